//! A fault campaign: one testbed cluster under DHCP and DNS load, faults
//! injected one after another (healed in between), every invariant checked
//! after each, and one report row per fault.

use std::net::Ipv4Addr;
use std::path::Path;
use std::thread;
use std::time::Duration;

use super::checker::{ClusterLease, duplicates, grants_by, holdings, lost_leases, stale_names};
use super::dhcp_load::{DhcpLoad, client_hostname};
use super::dns_load::DnsLoad;
use super::history::{History, Recorder, wall_ms};
use super::inject::{self, Fault, Injected};
use super::measure::{self, FaultReport, FaultWindow};
use super::real_clients::RealClientLog;
use crate::netns::Container;
use crate::testbed_cluster::TestbedCluster;

const HOSTS: u8 = 3;
/// The testbed's election timeout is 500 ms (openraft draws up to 1 s); an
/// old leader must stop granting within that, plus this margin for the
/// request in flight.
const MINORITY_GRACE_MS: u64 = 1_500;
/// A DNS answer may lag the DHCP exchange that changed it by this much
/// (replication to a follower, and the replica's read).
const DNS_LAG_MS: u64 = 2_000;
/// Rounding between the client's lease end and the cluster's.
const LEASE_SLACK_MS: u64 = 1_000;
const RECOVERY: Duration = Duration::from_secs(30);
const PAUSE_WAIT: Duration = Duration::from_secs(5);

/// How a campaign runs.
#[derive(Debug, Clone)]
pub struct Settings {
    pub seed: u64,
    /// Simulated DHCP clients per host.
    pub clients_per_host: u8,
    /// How long each fault lasts.
    pub hold: Duration,
    /// Load before the first fault and after each recovery.
    pub settle: Duration,
}

/// A testbed cluster under load, ready for faults.
pub struct Campaign {
    dhcp: Option<DhcpLoad>,
    dns: Option<DnsLoad>,
    containers: Vec<Container>,
    pub cluster: TestbedCluster,
    recorder: Recorder,
    settings: Settings,
    /// Where the next fault's duplicates and stale names are counted from.
    since_ms: u64,
    pub reports: Vec<FaultReport>,
    /// Every invariant broken, in words.
    pub violations: Vec<String>,
    /// Real clients whose events join the simulated clients' records.
    real: Vec<RealClientLog>,
}

impl Campaign {
    pub fn start(binary: &Path, tag: &str, settings: Settings) -> Campaign {
        let cluster = TestbedCluster::start(binary, tag, HOSTS, "");
        cluster.wait_ready(RECOVERY);
        let containers: Vec<Container> = (1..=HOSTS)
            .map(|host| {
                cluster
                    .testbed
                    .add_container(
                        host,
                        &format!("fl{host}"),
                        &format!("02:fb:00:00:00:{host:02x}"),
                    )
                    .expect("load container")
            })
            .collect();
        let recorder = Recorder::default();
        let borrowed: Vec<&Container> = containers.iter().collect();
        let dhcp = DhcpLoad::start(
            &borrowed,
            settings.clients_per_host,
            settings.seed,
            &recorder,
        )
        .expect("dhcp load");
        let names: Vec<String> = (1..=HOSTS)
            .flat_map(|host| (1..=settings.clients_per_host).map(move |k| client_hostname(host, k)))
            .collect();
        let dns =
            DnsLoad::start(&borrowed, &names, "lxd", settings.seed, &recorder).expect("dns load");
        thread::sleep(settings.settle);
        Campaign {
            dhcp: Some(dhcp),
            dns: Some(dns),
            containers,
            cluster,
            recorder,
            since_ms: wall_ms(),
            settings,
            reports: Vec::new(),
            violations: Vec::new(),
            real: Vec::new(),
        }
    }

    /// Checks a real client's events with the rest from now on.
    pub fn watch_real_client(&mut self, log: RealClientLog) {
        self.real.push(log);
    }

    /// Everything recorded so far, real clients included.
    fn history(&self) -> History {
        let mut history = self.recorder.snapshot();
        for log in &self.real {
            history.dhcp.extend(log.records());
        }
        history.dhcp.sort_by_key(|record| record.at_ms);
        history
    }

    /// Injects `fault`, holds it, heals, waits for recovery, checks.
    pub fn run(&mut self, fault: Fault) {
        let leader = self.cluster.wait_leader_among(&[1, 2, 3], RECOVERY);
        let leader = u8::try_from(leader).unwrap_or(1);
        inject::prepare(&mut self.cluster, fault, leader);
        let injected = inject::inject(&mut self.cluster, fault, leader);
        let injected_ms = injected.injected_ms;
        eprintln!(
            "fault: {} (leader {leader}, target {})",
            fault.name(),
            injected.target
        );
        thread::sleep(self.settings.hold);
        let mut lost = 0;
        if let Some(host) = injected.quorum.first() {
            lost += self.check_leases(*host, fault, "during the fault");
        }
        let healed_ms = wall_ms();
        inject::heal(&mut self.cluster, &injected);
        self.cluster.wait_leader_among(&[1, 2, 3], RECOVERY);
        thread::sleep(self.settings.settle);
        lost += self.check_leases(0, fault, "after recovery");
        let window = FaultWindow {
            name: fault.name().to_string(),
            injected_ms,
            healed_ms,
            surviving: injected.surviving.clone(),
        };
        self.report(&injected, &window, lost);
    }

    /// Pauses the clients, reads the leases with a quorum (through `host`,
    /// or, with 0, after every replica converged), compares them with what
    /// the clients hold, resumes. Returns how many were lost.
    fn check_leases(&mut self, host: u8, fault: Fault, when: &str) -> usize {
        let dhcp = self.dhcp.as_ref().expect("load running");
        assert!(dhcp.all_running(), "a DHCP load thread died");
        assert!(dhcp.pause(PAUSE_WAIT), "the DHCP load did not pause");
        let leases = if host == 0 {
            self.cluster.wait_converged(RECOVERY)
        } else {
            let mut leases = None;
            crate::netns::wait_until(Duration::from_secs(10), Duration::from_millis(200), || {
                leases = self
                    .cluster
                    .get(host, "/api/v1/leases?consistent=true")
                    .and_then(|v| v.as_array().cloned());
                leases.is_some()
            });
            leases.unwrap_or_else(|| {
                panic!(
                    "no consistent read through host {host} during {}\n{}",
                    fault.name(),
                    self.cluster.logs()
                )
            })
        };
        let at_ms = wall_ms();
        let held = holdings(&self.history().dhcp);
        let lost = lost_leases(&held, &ClusterLease::all(&leases), at_ms, LEASE_SLACK_MS);
        dhcp.resume();
        for lease in &lost {
            self.violations.push(format!(
                "{}: lease lost {when}: {} holds {} until {} (client clock), cluster has {:?}",
                fault.name(),
                lease.mac,
                lease.address,
                lease.held_until_ms,
                lease.cluster
            ));
        }
        lost.len()
    }

    fn report(&mut self, injected: &Injected, window: &FaultWindow, lost: usize) {
        let now = wall_ms();
        let history = self.history();
        let held = holdings(&history.dhcp);
        let dups: Vec<_> = duplicates(&held)
            .into_iter()
            .filter(|d| d.at_ms >= self.since_ms)
            .collect();
        for dup in &dups {
            self.violations
                .push(format!("{}: address held twice: {dup:?}", window.name));
        }
        // DNS answers of hosts cut off from the quorum may be stale by
        // design (local reads); every other answer must not be.
        let cut_off = match injected.fault {
            inject::Fault::PartitionLeader | inject::Fault::OneWayLeader => Some(injected.target),
            _ => None,
        };
        let stale = stale_names(&held, &history.dns, DNS_LAG_MS, |host, at| {
            at >= self.since_ms
                && !(Some(host) == cut_off
                    && (window.injected_ms..window.healed_ms + DNS_LAG_MS).contains(&at))
        });
        for name in stale.iter().take(5) {
            self.violations
                .push(format!("{}: stale DNS answer: {name:?}", window.name));
        }
        if let Some(old) = injected.deposed {
            let until = if injected.fault == Fault::PauseLeader {
                window.healed_ms + 2_000
            } else {
                window.healed_ms
            };
            let server = Ipv4Addr::new(172, 16, 0, old);
            for grant in grants_by(
                &history.dhcp,
                server,
                window.injected_ms + MINORITY_GRACE_MS,
                until,
            ) {
                self.violations.push(format!(
                    "{}: deposed leader {old} granted a new address after its election timeout: {grant:?}",
                    window.name
                ));
            }
        }
        let (answered, asked) = measure::dns_answered(&history.dns, window);
        for host in 1..=HOSTS {
            let alone = FaultWindow {
                surviving: vec![host],
                ..window.clone()
            };
            let (a, q) = measure::dns_answered(&history.dns, &alone);
            let failed = measure::dns_failed_rcodes(&history.dns, &alone);
            eprintln!(
                "dns host {host}: {a} of {q} answered during the fault (error rcodes: {failed:?})"
            );
        }
        let (timeouts, naks) = measure::dhcp_failures(&history.dhcp, window);
        let (renewed, renewals) = measure::renewals(&history.dhcp, window);
        self.reports.push(FaultReport {
            name: window.name.clone(),
            dhcp_downtime_ms: measure::dhcp_downtime(&history.dhcp, window.injected_ms),
            dns_answered_pct: measure::percent(answered, asked),
            dns_queries: asked,
            renewals_acked_pct: measure::percent(renewed, renewals),
            renewals,
            dhcp_timeouts: timeouts,
            naks,
            leases_lost: lost,
            duplicates: dups.len(),
        });
        eprintln!(
            "{}",
            measure::table(&self.reports[self.reports.len() - 1..])
        );
        self.since_ms = now;
    }

    /// Stops the load; returns the table of every fault run.
    pub fn finish(&mut self) -> String {
        if let Some(dhcp) = self.dhcp.take() {
            dhcp.stop();
        }
        if let Some(dns) = self.dns.take() {
            dns.stop();
        }
        let history = self.history();
        let acks = history
            .dhcp
            .iter()
            .filter(|r| matches!(r.event, super::history::DhcpEvent::Ack { .. }))
            .count();
        format!(
            "{}\n{} DHCP events ({acks} ACKs), {} DNS queries, {} simulated clients on {} load containers, {} real clients\n",
            measure::table(&self.reports),
            history.dhcp.len(),
            history.dns.len(),
            usize::from(self.settings.clients_per_host) * self.containers.len(),
            self.containers.len(),
            self.real.len(),
        )
    }
}
