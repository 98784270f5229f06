//! ISC `dig` run inside a namespace, several questions per invocation, with
//! each reply's status, flags and answer records parsed from its output.

use std::io;

use crate::netns::Netns;

/// One reply as dig printed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigReply {
    /// `NOERROR`, `NXDOMAIN`, `REFUSED`, `BADVERS`...; `TIMEOUT` when no
    /// server answered.
    pub status: String,
    /// The header flags, e.g. `["qr", "aa", "rd"]`.
    pub flags: Vec<String>,
    /// dig's whole flags line (it also shows set must-be-zero bits, `MBZ: 0x4`).
    pub flags_line: String,
    /// Answer records, fields separated by one space:
    /// `c1.lxd. 60 IN A 172.16.0.10`.
    pub answers: Vec<String>,
    /// EDNS pseudosection lines (`; EDNS: version: 0, flags:; udp: 1232`,
    /// option lines), empty without EDNS in the reply.
    pub edns: Vec<String>,
}

impl DigReply {
    pub fn has_flag(&self, flag: &str) -> bool {
        self.flags.iter().any(|f| f == flag)
    }

    /// The data of every answer record of `rtype` (`"A"`, `"PTR"`...).
    pub fn data(&self, rtype: &str) -> Vec<String> {
        self.answers
            .iter()
            .filter_map(|line| {
                let fields: Vec<&str> = line.split(' ').collect();
                (fields.get(3) == Some(&rtype)).then(|| fields[4..].join(" "))
            })
            .collect()
    }
}

/// Asks `server` each `(name, type)` in turn with `options` (e.g. `+norec`,
/// `+tcp`) from inside `netns`; one try, two seconds each.
pub fn dig(
    netns: &Netns,
    server: &str,
    options: &[&str],
    questions: &[(&str, &str)],
) -> io::Result<Vec<DigReply>> {
    let mut args: Vec<String> = vec![
        "dig".into(),
        format!("@{server}"),
        "+nocmd".into(),
        "+noall".into(),
        "+comments".into(),
        "+answer".into(),
        "+tries=1".into(),
        "+time=2".into(),
    ];
    args.extend(options.iter().map(|o| o.to_string()));
    for (name, rtype) in questions {
        args.push((*name).to_string());
        args.push((*rtype).to_string());
        // Global options apply to every question; repeat the local ones.
        args.extend(options.iter().map(|o| o.to_string()));
    }
    let output = netns.output(&args)?;
    let text = String::from_utf8_lossy(&output.stdout);
    let replies = parse(&text);
    if replies.len() != questions.len() {
        return Err(io::Error::other(format!(
            "dig @{server}: {} replies to {} questions:\n{text}{}",
            replies.len(),
            questions.len(),
            String::from_utf8_lossy(&output.stderr)
        )));
    }
    Ok(replies)
}

/// Splits dig's output into replies: each starts at its `->>HEADER<<-` line;
/// a question no server answered shows as "no servers could be reached".
pub fn parse(text: &str) -> Vec<DigReply> {
    let mut replies: Vec<DigReply> = Vec::new();
    let mut section = "";
    for line in text.lines() {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix(";; ->>HEADER<<-") {
            let status = rest
                .split(',')
                .find_map(|part| part.trim().strip_prefix("status: "))
                .unwrap_or("?")
                .to_string();
            replies.push(DigReply {
                status,
                flags: Vec::new(),
                flags_line: String::new(),
                answers: Vec::new(),
                edns: Vec::new(),
            });
            section = "";
        } else if line.contains("no servers could be reached") {
            replies.push(DigReply {
                status: "TIMEOUT".into(),
                flags: Vec::new(),
                flags_line: String::new(),
                answers: Vec::new(),
                edns: Vec::new(),
            });
            section = "";
        } else if let Some(rest) = line.strip_prefix(";; flags:") {
            if let Some(reply) = replies.last_mut() {
                let flags = rest.split(';').next().unwrap_or("");
                reply.flags = flags.split_whitespace().map(str::to_string).collect();
                reply.flags_line = line.to_string();
            }
        } else if line.starts_with(";; OPT PSEUDOSECTION") {
            section = "opt";
        } else if line.starts_with(";; ANSWER SECTION") {
            section = "answer";
        } else if line.starts_with(";;") || line.is_empty() {
            section = "";
        } else if let Some(reply) = replies.last_mut() {
            match section {
                "opt" => reply.edns.push(line.trim_start_matches("; ").to_string()),
                "answer" => reply
                    .answers
                    .push(line.split_whitespace().collect::<Vec<_>>().join(" ")),
                _ => {}
            }
        }
    }
    replies
}

/// `dig @server +short ARGS` in `ns` (2 tries of 2 s): the answer's data,
/// trimmed; empty when dig failed or nothing answered.
pub fn dig_short(ns: &Netns, server: &str, args: &[&str]) -> String {
    let mut command = vec![
        "dig".to_string(),
        format!("@{server}"),
        "+short".into(),
        "+tries=2".into(),
        "+time=2".into(),
    ];
    command.extend(args.iter().map(|a| a.to_string()));
    ns.exec(&command).unwrap_or_default().trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const OUTPUT: &str = "\
;; Got answer:
;; ->>HEADER<<- opcode: QUERY, status: NOERROR, id: 4242
;; flags: qr aa rd; QUERY: 1, ANSWER: 1, AUTHORITY: 0, ADDITIONAL: 1
;; WARNING: recursion requested but not available

;; OPT PSEUDOSECTION:
; EDNS: version: 0, flags:; udp: 1232
;; ANSWER SECTION:
c1.lxd.\t\t60\tIN\tA\t172.16.0.10

;; Got answer:
;; ->>HEADER<<- opcode: QUERY, status: NXDOMAIN, id: 4243
;; flags: qr aa rd; QUERY: 1, ANSWER: 0, AUTHORITY: 1, ADDITIONAL: 1

;; communications error to 10.99.0.3#53: timed out
;; no servers could be reached
";

    #[test]
    fn replies_split_with_status_flags_and_answers() {
        let replies = parse(OUTPUT);
        assert_eq!(replies.len(), 3);
        assert_eq!(replies[0].status, "NOERROR");
        assert!(replies[0].has_flag("aa") && !replies[0].has_flag("ra"));
        assert_eq!(replies[0].answers, ["c1.lxd. 60 IN A 172.16.0.10"]);
        assert_eq!(replies[0].data("A"), ["172.16.0.10"]);
        assert_eq!(replies[0].edns, ["EDNS: version: 0, flags:; udp: 1232"]);
        assert_eq!(replies[1].status, "NXDOMAIN");
        assert!(replies[1].answers.is_empty() && replies[1].edns.is_empty());
        assert_eq!(replies[2].status, "TIMEOUT");
    }
}
