//! Everything that can go wrong in `dnsctl`, each with what to do about it,
//! and the exit code it maps to (1 error, 2 usage).

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Arguments that parse but do not make sense (e.g. a malformed record).
    #[error("{0}")]
    Usage(String),
    #[error(
        "cannot find the local node: {reason}. Pass --node ADDR (the admin API address) or --config FILE"
    )]
    Config { reason: String },
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("token file {}: {reason}", path.display())]
    Token { path: PathBuf, reason: String },
    #[error(
        "node {node} unreachable — is raftmasq running there? ({reason}); try another host with --node ADDR"
    )]
    Unreachable { node: String, reason: String },
    #[error(
        "node {node} did not answer within {secs} s — it may be overloaded or stuck; try again or ask another host with --node ADDR"
    )]
    Timeout { node: String, secs: u64 },
    #[error("{message}{hint}")]
    Unauthorized { message: String, hint: String },
    /// The API refused the request; its message says why and what to do.
    #[error("{message}")]
    Api {
        status: u16,
        kind: String,
        message: String,
    },
    #[error(
        "node {node} sent an answer dnsctl cannot read ({reason}); are dnsctl and raftmasq the same version?"
    )]
    Decode { node: String, reason: String },
    #[error("cannot start: {0}")]
    Runtime(std::io::Error),
    /// The command ran but did not fully succeed; its output says what is left.
    #[error("{0}")]
    Incomplete(String),
}

impl Error {
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Usage(_) => 2,
            _ => 1,
        }
    }
}
