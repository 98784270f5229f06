//! The watcher: subscribe to LXD's events, read every instance, make the
//! cluster agree, then follow the events; on any failure wait (bounded
//! backoff) and start again from a full read, so a restart of LXD loses
//! nothing. DHCP and DNS never wait on it.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use raftmasq_state::{Command, LeaseTable, MacAddr, Response};
use tokio_util::sync::CancellationToken;

use crate::Error;
use crate::api::Instance;
use crate::client::{Client, Events, find_socket};
use crate::events::{Change, classify};
use crate::nics::{Nic, desired};
use crate::plan::plan;

/// The cluster as the watcher sees it: the local replica to read, and
/// writes that reach the leader (the daemon's `ClusterNode`; a fake in tests).
pub trait Cluster: Send + Sync + 'static {
    /// Runs `f` over the local replica's table.
    fn read<T>(&self, f: impl FnOnce(&LeaseTable) -> T) -> T;
    /// Commits `command` through the leader; `Err` is a transport or
    /// leadership failure worth retrying, with its reason.
    fn write(&self, command: Command) -> impl Future<Output = Result<Response, String>> + Send;
    /// Resolves once the cluster has its settings (commands need them).
    fn initialized(&self) -> impl Future<Output = ()> + Send;
}

/// What the watcher needs from the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Sockets to try, in order: the configured one, or the usual paths.
    pub sockets: Vec<PathBuf>,
    /// The served bridge (`dhcp.interface`).
    pub bridge: String,
    /// First wait after a failure; doubles up to `max_backoff`.
    pub min_backoff: Duration,
    pub max_backoff: Duration,
    /// Wait before retrying writes the cluster could not take.
    pub write_retry: Duration,
    /// Where what this host's LXD reported is kept across restarts
    /// ([`crate::memory`]); `None`: in memory only.
    pub memory: Option<PathBuf>,
}

impl Settings {
    pub fn new(sockets: Vec<PathBuf>, bridge: impl Into<String>) -> Settings {
        Settings {
            sockets,
            bridge: bridge.into(),
            min_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(10),
            write_retry: Duration::from_secs(1),
            memory: None,
        }
    }
}

/// Follows LXD until `shutdown` is cancelled.
pub async fn run<C: Cluster>(cluster: C, settings: Settings, shutdown: CancellationToken) {
    tokio::select! {
        _ = shutdown.cancelled() => return,
        _ = cluster.initialized() => {}
    }
    let mut watcher = Watcher::default();
    if let Some(path) = &settings.memory {
        watcher.known = crate::memory::load(path);
    }
    let mut backoff = settings.min_backoff;
    // The same failure again (LXD not installed, a daemon that stays down)
    // is logged at debug: one warning per outage, not one per retry.
    let mut last_error: Option<String> = None;
    loop {
        let outcome = tokio::select! {
            _ = shutdown.cancelled() => return,
            outcome = session(&cluster, &settings, &mut watcher, &mut backoff) => outcome,
        };
        // A session only ends with an error.
        let Err(error) = outcome;
        if backoff == settings.min_backoff {
            // First attempt, or the session had connected: a new outage.
            last_error = None;
        }
        let text = error.to_string();
        let retry_in_ms = backoff.as_millis() as u64;
        if last_error.as_deref() == Some(text.as_str()) {
            tracing::debug!(%error, retry_in_ms, "lxd: still not following LXD");
        } else {
            tracing::warn!(
                %error,
                retry_in_ms,
                "lxd: not following LXD; DHCP and DNS keep serving, names and reservations from LXD wait"
            );
        }
        last_error = Some(text);
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(settings.max_backoff);
    }
}

/// One connection: subscribe, read all, reconcile, follow. Returns only
/// on failure.
async fn session<C: Cluster>(
    cluster: &C,
    settings: &Settings,
    watcher: &mut Watcher,
    backoff: &mut Duration,
) -> Result<std::convert::Infallible, Error> {
    let socket = find_socket(&settings.sockets)?;
    let client = Client::new(socket);
    let mut events = client.events().await?;
    watcher.read_all(&client).await?;
    tracing::info!(
        socket = %client.socket().display(),
        instances = watcher.instances.len(),
        "lxd: following LXD"
    );
    *backoff = settings.min_backoff;
    let mut retry = watcher.reconcile(cluster, settings).await;
    loop {
        let pause = async {
            if retry {
                tokio::time::sleep(settings.write_retry).await
            } else {
                std::future::pending().await
            }
        };
        tokio::select! {
            _ = pause => {}
            next = events.next() => {
                follow(next?, &client, &mut events, watcher).await?;
            }
        }
        retry = watcher.reconcile(cluster, settings).await;
    }
}

/// Applies one event, and any that arrive right behind it, to the held
/// instances. Events of one `lxc` command come together: taking what is
/// already there before writing saves Raft entries (at most
/// [`BURST`] events, each waited for at most [`BURST_GAP`]).
async fn follow(
    first: Result<crate::api::Event, Error>,
    client: &Client,
    events: &mut Events,
    watcher: &mut Watcher,
) -> Result<(), Error> {
    let mut next = Some(first);
    let mut taken = 0;
    while let Some(event) = next.take() {
        match event {
            Ok(event) => {
                let change = classify(&event);
                if change != Change::Nothing {
                    tracing::debug!(action = %event.metadata.action, source = %event.metadata.source, "lxd: event");
                }
                watcher.apply(change, client).await?;
            }
            Err(error) => tracing::warn!(%error, "lxd: event skipped"),
        }
        taken += 1;
        if taken < BURST
            && let Ok(more) = tokio::time::timeout(BURST_GAP, events.next()).await
        {
            next = Some(more?);
        }
    }
    Ok(())
}

/// The most events taken before the cluster is told.
const BURST: usize = 64;
/// How long to wait for the next event of a burst.
const BURST_GAP: Duration = Duration::from_millis(20);

/// What the watcher holds between events.
#[derive(Default)]
struct Watcher {
    /// (project, name) -> instance, as last read.
    instances: BTreeMap<(String, String), Instance>,
    /// The NICs this host's LXD reported at the last reconcile.
    known: BTreeMap<MacAddr, Nic>,
    /// Problems already logged (each is logged once while it lasts).
    logged: BTreeSet<String>,
    /// Commands the cluster refused: not proposed again until a full read.
    refused: Vec<Command>,
}

impl Watcher {
    async fn read_all(&mut self, client: &Client) -> Result<(), Error> {
        let instances = client.instances().await?;
        self.instances = instances
            .into_iter()
            .map(|i| ((i.project.clone(), i.name.clone()), i))
            .collect();
        self.refused.clear();
        Ok(())
    }

    async fn reread(
        &mut self,
        client: &Client,
        project: String,
        name: String,
    ) -> Result<(), Error> {
        match client.instance(&project, &name).await? {
            Some(instance) => {
                self.instances.insert((project, name), instance);
            }
            None => {
                self.instances.remove(&(project, name));
            }
        }
        Ok(())
    }

    async fn apply(&mut self, change: Change, client: &Client) -> Result<(), Error> {
        match change {
            Change::Nothing => Ok(()),
            Change::Reread { project, name } => self.reread(client, project, name).await,
            Change::Remove { project, name } => {
                self.instances.remove(&(project, name));
                Ok(())
            }
            Change::Rename { project, old, name } => {
                self.instances.remove(&(project.clone(), old));
                self.reread(client, project, name).await
            }
            Change::RereadAll => self.read_all(client).await,
        }
    }

    /// Proposes what the cluster lacks. Returns whether some write should be
    /// tried again (the cluster could not take it).
    async fn reconcile<C: Cluster>(&mut self, cluster: &C, settings: &Settings) -> bool {
        let wanted = desired(self.instances.values(), &settings.bridge);
        let planned = cluster.read(|table| plan(&wanted.nics, &self.known, table));
        let mut now_logged = BTreeSet::new();
        for problem in &wanted.problems {
            let text = problem.to_string();
            if !self.logged.contains(&text) {
                tracing::warn!(reason = %text, "lxd: instance NIC not fully used");
            }
            now_logged.insert(text);
        }
        for problem in &planned.problems {
            let text = problem.to_string();
            if !self.logged.contains(&text) {
                tracing::warn!(instance = problem.instance(), reason = %text, "lxd: static address not reserved");
            }
            now_logged.insert(text);
        }
        self.logged = now_logged;
        let mut retry = false;
        let mut unforgotten = BTreeMap::new();
        for command in planned.commands {
            if self.refused.contains(&command) {
                continue;
            }
            match cluster.write(command.clone()).await {
                Ok(Response::Rejected { reason }) => {
                    tracing::warn!(%command, %reason, "lxd: the cluster refused a change from LXD");
                    self.refused.push(command);
                }
                Ok(_) => tracing::info!(%command, "lxd: applied"),
                Err(error) => {
                    tracing::warn!(%command, %error, "lxd: change not committed; will retry");
                    retry = true;
                    if let Command::ForgetMac { mac, .. } = command
                        && let Some(nic) = self.known.get(&mac)
                    {
                        unforgotten.insert(mac, nic.clone());
                    }
                }
            }
        }
        let mut known = wanted.nics;
        known.extend(unforgotten);
        if known != self.known
            && let Some(path) = &settings.memory
            && let Err(error) = crate::memory::save(path, &known)
        {
            tracing::warn!(file = %path.display(), %error, "lxd: cannot keep what LXD reported; a deletion while raftmasq is stopped would be missed");
        }
        self.known = known;
        retry
    }
}
