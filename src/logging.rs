//! Structured logs: plain text for journald, JSON on request.

use anyhow::Context;
use raftmasq_config::{LogConfig, LogFormat};
use tracing_subscriber::EnvFilter;

pub fn init(config: &LogConfig) -> anyhow::Result<()> {
    // RUST_LOG overrides the file, for one-off debugging.
    let filter = match std::env::var("RUST_LOG") {
        Ok(directives) if !directives.is_empty() => EnvFilter::new(directives),
        _ => EnvFilter::try_new(&config.level)
            .with_context(|| format!("log.level {:?} is not a valid filter", config.level))?,
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match config.format {
        LogFormat::Plain => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    }
    .map_err(|error| anyhow::anyhow!("cannot install the logger: {error}"))
}
