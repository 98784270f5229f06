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
        LogFormat::Json => registry.with(json_layer(std::io::stderr)).try_init(),
    };
    installed.map_err(|error| anyhow::anyhow!("cannot install the logger: {error}"))?;
    Ok(LogLevel(handle))
}

/// The `json` format: one object per line, `{"timestamp", "level",
/// "fields": {"message", ...the event's fields}, "target", "span", "spans"}`
/// (docs/operations.md, "Logs"; a test below holds it to that shape).
fn json_layer<S, W>(writer: W) -> impl tracing_subscriber::Layer<S>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::fmt::layer().json().with_writer(writer)
}

#[cfg(test)]
mod tests {
    use super::with_quiet_parsers;
    use std::sync::{Arc, Mutex};

    use raftmasq_consensus::state::MacAddr;
    use raftmasq_dhcpd::server::{LeaseEvent, log_lease_event};
    use tracing_subscriber::layer::SubscriberExt;

    /// Collects what the layer writes.
    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_lease_line_in_json_has_the_documented_shape() {
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let subscriber =
            tracing_subscriber::registry().with(super::json_layer(move || writer.clone()));
        tracing::subscriber::with_default(subscriber, || {
            log_lease_event(
                &LeaseEvent {
                    event: "bound",
                    address: std::net::Ipv4Addr::new(10, 0, 0, 5),
                    mac: Some(MacAddr([2, 0x42, 0, 0, 0, 1])),
                    hostname: Some("C1\nforged"),
                    name: Some("c1-2"),
                    expires_at: Some(3_601_000),
                },
                1_000,
            );
        });
        let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        assert_eq!(text.lines().count(), 1, "one line per event: {text}");
        let line: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
        assert_eq!(line["level"], "INFO");
        assert!(line["timestamp"].is_string());
        assert_eq!(line["target"], "raftmasq_dhcpd::server::lease_log");
        let fields = &line["fields"];
        assert_eq!(fields["message"], "lease bound");
        assert_eq!(fields["event"], "bound");
        assert_eq!(fields["ip"], "10.0.0.5");
        assert_eq!(fields["client_mac"], "02:42:00:00:00:01");
        assert_eq!(fields["hostname"], "C1\\nforged", "escaped, not a new line");
        assert_eq!(fields["name"], "c1-2");
        assert_eq!(fields["lease_secs"], 3600);
    }

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
