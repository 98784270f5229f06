//! Who may hold a connection: at most so many at once, and so many from one
//! client address. Pure counting; [`crate::BoundedListener`] holds it under a
//! lock and releases a slot when the connection is dropped.

use std::collections::HashMap;
use std::net::IpAddr;

/// Why a connection was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("{max} connections open: the listener is full")]
    Full { max: usize },
    #[error("{max} connections open from this client")]
    ClientFull { max: usize },
}

impl Refusal {
    /// The `reason` label of `raftmasq_connections_refused_total`.
    pub fn reason(&self) -> &'static str {
        match self {
            Refusal::Full { .. } => "full",
            Refusal::ClientFull { .. } => "client_full",
        }
    }
}

/// Open connections, overall and per client address.
#[derive(Debug)]
pub struct Admission {
    max_total: usize,
    max_per_client: usize,
    total: usize,
    per_client: HashMap<IpAddr, usize>,
}

impl Admission {
    pub fn new(max_total: usize, max_per_client: usize) -> Admission {
        Admission {
            max_total,
            max_per_client,
            total: 0,
            per_client: HashMap::new(),
        }
    }

    /// Takes a slot for a connection from `client`, or says why not.
    pub fn admit(&mut self, client: IpAddr) -> Result<(), Refusal> {
        let client = client.to_canonical();
        if self.total >= self.max_total {
            return Err(Refusal::Full {
                max: self.max_total,
            });
        }
        let open = self.per_client.entry(client).or_insert(0);
        if *open >= self.max_per_client {
            return Err(Refusal::ClientFull {
                max: self.max_per_client,
            });
        }
        *open += 1;
        self.total += 1;
        Ok(())
    }

    /// Gives back the slot of a connection from `client` that has closed.
    pub fn release(&mut self, client: IpAddr) {
        let client = client.to_canonical();
        if let Some(open) = self.per_client.get_mut(&client) {
            *open = open.saturating_sub(1);
            if *open == 0 {
                // No entry per address ever seen: the map holds open clients only.
                self.per_client.remove(&client);
            }
            self.total = self.total.saturating_sub(1);
        }
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.total
    }

    /// Connections open now from `client`.
    pub fn open_from(&self, client: IpAddr) -> usize {
        self.per_client
            .get(&client.to_canonical())
            .copied()
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

    use super::{Admission, Refusal};

    fn ip(last: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(192, 0, 2, last))
    }

    #[test]
    fn one_client_gets_at_most_its_share() {
        let mut admission = Admission::new(10, 2);
        assert_eq!(admission.admit(ip(1)), Ok(()));
        assert_eq!(admission.admit(ip(1)), Ok(()));
        assert_eq!(admission.admit(ip(1)), Err(Refusal::ClientFull { max: 2 }));
        // Another client still gets in.
        assert_eq!(admission.admit(ip(2)), Ok(()));
        assert_eq!(admission.open(), 3);
        assert_eq!(admission.open_from(ip(1)), 2);
    }

    #[test]
    fn the_listener_is_full_whoever_asks() {
        let mut admission = Admission::new(3, 2);
        for client in [1, 1, 2] {
            assert_eq!(admission.admit(ip(client)), Ok(()));
        }
        assert_eq!(admission.admit(ip(3)), Err(Refusal::Full { max: 3 }));
        admission.release(ip(1));
        assert_eq!(admission.admit(ip(3)), Ok(()));
    }

    #[test]
    fn releasing_frees_the_slot_and_forgets_idle_clients() {
        let mut admission = Admission::new(4, 1);
        assert_eq!(admission.admit(ip(1)), Ok(()));
        admission.release(ip(1));
        assert_eq!(admission.open(), 0);
        assert_eq!(admission.open_from(ip(1)), 0);
        assert!(admission.per_client.is_empty());
        // A release for a client with nothing open changes nothing.
        admission.release(ip(9));
        assert_eq!(admission.open(), 0);
        assert_eq!(admission.admit(ip(1)), Ok(()));
    }

    #[test]
    fn an_ipv4_mapped_address_is_the_same_client() {
        let mut admission = Admission::new(4, 1);
        let mapped = IpAddr::V6(Ipv4Addr::new(192, 0, 2, 1).to_ipv6_mapped());
        assert_eq!(admission.admit(ip(1)), Ok(()));
        assert_eq!(admission.admit(mapped), Err(Refusal::ClientFull { max: 1 }));
        assert_eq!(admission.admit(IpAddr::V6(Ipv6Addr::LOCALHOST)), Ok(()));
    }
}
