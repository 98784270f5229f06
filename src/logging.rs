//! Structured logs: plain text for journald, JSON on request; the level can
//! be changed at run time (SIGHUP re-reads `log.level`).

use std::io::IsTerminal;

use anyhow::Context;
use raftmasq_config::{LogConfig, LogFormat};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Registry, reload};

/// Changes the active filter.
#[derive(Clone)]
pub struct LogLevel(reload::Handle<EnvFilter, Registry>);

/// Libraries whose own logs drown ours at the default level, and the level
/// they get unless a directive names them:
/// - hickory-proto warns about every malformed EDNS option it parses: anyone
///   who can send a packet could flood the log; our code counts and
///   rate-limits malformed input itself;
/// - openraft logs its internals (every vote, replication step and
///   membership, some lines over 1,000 characters) at info; our consensus
///   code logs what an operator needs (leader changes, members, refusals).
const QUIET_DEPENDENCIES: [(&str, &str); 2] = [("hickory_proto", "error"), ("openraft", "warn")];

fn with_quiet_parsers(directives: &str) -> String {
    let mut filter = directives.to_string();
    for (target, level) in QUIET_DEPENDENCIES {
        if !directives.contains(target) {
            filter.push_str(&format!(",{target}={level}"));
        }
    }
    filter
}

/// Whether `level` is a filter the daemon would accept.
pub fn check_filter(level: &str) -> anyhow::Result<()> {
    EnvFilter::try_new(with_quiet_parsers(level))
        .map(drop)
        .map_err(|error| anyhow::anyhow!("{level:?} is not a valid tracing filter: {error}"))
}

impl LogLevel {
    pub fn set(&self, level: &str) -> anyhow::Result<()> {
        let filter = EnvFilter::try_new(with_quiet_parsers(level))
            .with_context(|| format!("log.level {level:?} is not a valid filter"))?;
        self.0.reload(filter).context("cannot change the log level")
    }
}

pub fn init(config: &LogConfig) -> anyhow::Result<LogLevel> {
    // RUST_LOG overrides the file, for one-off debugging.
    let filter = match std::env::var("RUST_LOG") {
        Ok(directives) if !directives.is_empty() => EnvFilter::new(with_quiet_parsers(&directives)),
        _ => EnvFilter::try_new(with_quiet_parsers(&config.level))
            .with_context(|| format!("log.level {:?} is not a valid filter", config.level))?,
    };
    // Colour only on a terminal: journald and log files get plain text.
    let colour = std::io::stderr().is_terminal();
    let (filter, handle) = reload::Layer::new(filter);
    let registry = tracing_subscriber::registry().with(filter);
    let installed = match config.format {
        LogFormat::Plain => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_ansi(colour)
                    .with_writer(std::io::stderr),
            )
            .try_init(),
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_writer(std::io::stderr),
            )
            .try_init(),
    };
    installed.map_err(|error| anyhow::anyhow!("cannot install the logger: {error}"))?;
    Ok(LogLevel(handle))
}

#[cfg(test)]
mod tests {
    use super::with_quiet_parsers;

    #[test]
    fn noisy_dependencies_are_quiet_unless_asked() {
        assert_eq!(
            with_quiet_parsers("info"),
            "info,hickory_proto=error,openraft=warn"
        );
        assert_eq!(
            with_quiet_parsers("debug,hickory_proto=trace"),
            "debug,hickory_proto=trace,openraft=warn"
        );
        assert_eq!(
            with_quiet_parsers("info,openraft=debug"),
            "info,openraft=debug,hickory_proto=error"
        );
    }
}
