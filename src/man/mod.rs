//! Man pages and shell completions, generated from the sources operators
//! already read: raftmasq(8) from the clap definition plus the sections clap
//! cannot know (FILES, SIGNALS, ENVIRONMENT, EXIT STATUS, EXAMPLES), and
//! raftmasq.toml(5) from docs/configuration.md itself, so the page and the
//! reference cannot drift apart.

mod markdown;

use std::path::Path;

use anyhow::Context;
use clap::CommandFactory;
use clap_complete::Shell;

use crate::cli::Cli;

/// The configuration reference, compiled in: the source of raftmasq.toml(5).
const CONFIGURATION_MD: &str = include_str!("../../docs/configuration.md");

/// The sections of raftmasq(8) after clap's own, in roff.
const RAFTMASQ_SECTIONS: &str = r#".SH FILES
.TP
\fI/etc/raftmasq/raftmasq.toml\fR
This host's configuration (see \fBraftmasq.toml\fR(5)); \fB\-\-config\fR or \fBRAFTMASQ_CONFIG\fR name another.
.TP
\fI/etc/raftmasq/cluster.token\fR
The cluster token (\fBcluster.token_file\fR), readable by the service user only.
.TP
\fI/var/lib/raftmasq/\fR
The data directory (\fBnode.data_dir\fR): the Raft log and snapshots in \fIsled/\fR. Back it up with \fBraftmasq export\fR, never by copying it while the node runs.
.TP
\fI/lib/systemd/system/raftmasq.service\fR
The systemd unit.
.SH SIGNALS
.TP
\fBSIGTERM\fR, \fBSIGINT\fR
Stop: a leader first hands leadership to a caught-up follower (at most 0.8 s), then the node closes its sockets and flushes its store. \fBraftmasq demo\fR stops its three nodes and removes its temporary directory.
.TP
\fBSIGHUP\fR
Re-read the configuration file: \fBlog.level\fR and \fBdns.upstream\fR take effect at once; the log names every other changed key, which waits for a restart. A file that no longer parses changes nothing.
.SH ENVIRONMENT
.TP
\fBRAFTMASQ_CONFIG\fR
The configuration file, as \fB\-\-config\fR.
.TP
\fBRUST_LOG\fR
A tracing filter that replaces \fBlog.level\fR for this run (e.g. \fIinfo,raftmasq_dhcpd=debug\fR).
.TP
\fBNO_COLOR\fR
Plain log lines even on a terminal.
.SH EXIT STATUS
.TP
\fB0\fR
Stopped on request, or \fBcheck\fR found no problem.
.TP
\fB1\fR
An error: the configuration is invalid (the message names the file, the key and the reason), the data directory cannot be opened, a port is in use (the message names the process holding it), or \fBcheck\fR found problems (it lists all of them).
.TP
\fB2\fR
Usage: an unknown subcommand or flag.
.SH EXAMPLES
.TP
\fBraftmasq demo\fR
A three-node cluster on loopback with simulated clients and the dashboard; no root needed.
.TP
\fBraftmasq check /etc/raftmasq/raftmasq.toml\fR
Every problem of a configuration file at once, and on this host its interface, addresses and ports.
.TP
\fBsystemctl start raftmasq\fR
Run the node as the packaged service (\fBraftmasq run\fR).
.TP
\fBsystemctl stop raftmasq && raftmasq export \-o state.json\fR
Export this node's state after stopping it.
.TP
\fBraftmasq completions bash > /etc/bash_completion.d/raftmasq\fR
Install the shell completion.
.SH SEE ALSO
\fBdnsctl\fR(1), \fBraftmasq.toml\fR(5), \fBdnsmasq\fR(8).
The operator guides are in \fI/usr/share/doc/raftmasq/\fR.
"#;

/// raftmasq(8): clap's name, synopsis, description, options and subcommands,
/// then [`RAFTMASQ_SECTIONS`].
pub fn raftmasq_page() -> anyhow::Result<Vec<u8>> {
    let command = Cli::command().name("raftmasq");
    let man = clap_mangen::Man::new(command).section("8");
    let mut roff = Vec::new();
    man.render_title(&mut roff)?;
    man.render_name_section(&mut roff)?;
    man.render_synopsis_section(&mut roff)?;
    man.render_description_section(&mut roff)?;
    man.render_options_section(&mut roff)?;
    man.render_subcommands_section(&mut roff)?;
    roff.extend_from_slice(RAFTMASQ_SECTIONS.as_bytes());
    man.render_version_section(&mut roff)?;
    Ok(roff)
}

/// raftmasq.toml(5), converted from docs/configuration.md.
pub fn config_page() -> String {
    markdown::to_man_page(
        CONFIGURATION_MD,
        &markdown::Title {
            name: "raftmasq.toml",
            section: "5",
            summary: "configuration file of raftmasq",
            version: env!("CARGO_PKG_VERSION"),
        },
    )
}

/// Writes raftmasq.8 and raftmasq.toml.5 into `dir`.
pub fn write_pages(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    for (name, text) in [
        ("raftmasq.8", raftmasq_page()?),
        ("raftmasq.toml.5", config_page().into_bytes()),
    ] {
        let path = dir.join(name);
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

/// The completion script of `raftmasq` for `shell`.
pub fn completions(shell: Shell) -> Vec<u8> {
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "raftmasq", &mut out);
    out
}

#[cfg(test)]
mod tests;
