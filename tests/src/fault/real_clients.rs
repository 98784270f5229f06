//! Real DHCP clients (dhclient, udhcpc: [`crate::clients`]) beside the
//! simulated ones: their scripts' events, stamped with the time the script
//! ran, become records the checker reads like any other client's.

use std::net::Ipv4Addr;
use std::path::PathBuf;

use super::history::{DhcpEvent, DhcpRecord};
use crate::clients::{Event, read_events};

/// How long before its script ran a real client may have sent its request.
const SCRIPT_DELAY_MS: u64 = 3_000;

/// Where a real client's script writes, and who the client is.
#[derive(Debug, Clone)]
pub struct RealClientLog {
    pub events: PathBuf,
    pub mac: String,
    pub hostname: String,
    pub host: u8,
}

impl RealClientLog {
    /// The client's events so far as checker records.
    pub fn records(&self) -> Vec<DhcpRecord> {
        read_events(&self.events)
            .iter()
            .filter_map(|event| self.record(event))
            .collect()
    }

    fn record(&self, event: &Event) -> Option<DhcpRecord> {
        let at_ms = event.at_ms?;
        let address = event.address.unwrap_or(Ipv4Addr::UNSPECIFIED);
        let kind = match event.event.as_str() {
            "BOUND" | "REBOOT" | "RENEW" | "REBIND" => DhcpEvent::Ack {
                address: event.address?,
                server_id: event.server_id?,
                lease_secs: event.lease_time?,
                new: matches!(event.event.as_str(), "BOUND" | "REBOOT"),
                // The script runs after the ACK (a process start later, which
                // on a busy machine can be a while); counting the lease from
                // a few seconds earlier never makes it end after the
                // cluster's record does.
                sent_at_ms: at_ms.saturating_sub(SCRIPT_DELAY_MS),
            },
            "NAK" => DhcpEvent::Nak {
                server_id: event.server_id,
            },
            "RELEASE" | "STOP" => DhcpEvent::Release { address },
            "EXPIRE" | "FAIL" | "LEASEFAIL" => DhcpEvent::Expire { address },
            _ => return None,
        };
        Some(DhcpRecord {
            at_ms,
            mac: self.mac.clone(),
            hostname: self.hostname.clone(),
            host: self.host,
            event: kind,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_events_become_acks_and_ends() {
        let dir = tempfile::TempDir::new().expect("dir");
        let events = dir.path().join("events");
        std::fs::write(
            &events,
            "at=1000 event=PREINIT address= server_id=\n\
             at=2000 event=BOUND address=172.16.0.20 server_id=172.16.0.1 lease_time=120\n\
             at=7000 event=RENEW address=172.16.0.20 server_id=172.16.0.2 lease_time=120\n\
             event=RENEW address=172.16.0.20 server_id=172.16.0.2 lease_time=120\n\
             at=9000 event=RELEASE address=172.16.0.20 server_id=\n",
        )
        .expect("write");
        let log = RealClientLog {
            events,
            mac: "02:fc:00:00:00:01".into(),
            hostname: "fd1".into(),
            host: 1,
        };
        let records = log.records();
        assert_eq!(records.len(), 3, "{records:?}");
        assert!(matches!(records[0].event, DhcpEvent::Ack { new: true, .. }));
        assert!(matches!(
            records[1].event,
            DhcpEvent::Ack { new: false, .. }
        ));
        assert!(matches!(records[2].event, DhcpEvent::Release { .. }));
    }
}
