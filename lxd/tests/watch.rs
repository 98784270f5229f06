//! The watcher against a fake LXD on a unix socket: the socket missing,
//! garbage and errors from LXD, events, and a reconnect that resynchronises.

#![allow(clippy::unwrap_used)]

mod support;

use std::sync::{Arc, Mutex};

use raftmasq_state::{Command, MacAddr};
use support::*;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

const MAC1: &str = "00:16:3e:00:00:01";
const MAC2: &str = "00:16:3e:00:00:02";

fn mac(text: &str) -> MacAddr {
    text.parse().unwrap()
}

fn start(cluster: &FakeCluster, socket: &std::path::Path) -> CancellationToken {
    let shutdown = CancellationToken::new();
    tokio::spawn(raftmasq_lxd::run(
        cluster.clone(),
        settings(socket),
        shutdown.clone(),
    ));
    shutdown
}

#[tokio::test]
async fn a_missing_socket_is_logged_and_lxd_is_followed_once_it_appears() {
    let (logs, _guard) = Logs::install();
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("unix.socket");
    let cluster = FakeCluster::new();
    let shutdown = start(&cluster, &socket);
    eventually("the missing socket logged", || {
        logs.text().contains("no LXD socket found")
    })
    .await;
    assert!(
        logs.text().contains("DHCP and DNS keep serving"),
        "{}",
        logs.text()
    );
    assert!(logs.text().contains(&socket.display().to_string()));
    assert_eq!(cluster.writes(), vec![]);

    let fake = FakeLxd::start(&socket, Arc::new(Mutex::new(Script::default())));
    fake.set_instances(&[instance_json(
        "c1",
        MAC1,
        r#","user.raftmasq.ipv4":"172.16.5.1""#,
    )]);
    eventually("c1 named and reserved", || {
        let table = cluster.table.lock().unwrap();
        table.name_of_mac(mac(MAC1)) == Some("c1")
            && table
                .reservation_for_mac(mac(MAC1))
                .map(|r| r.address.to_string())
                == Some("172.16.5.1".into())
    })
    .await;
    shutdown.cancel();
}

#[tokio::test]
async fn a_socket_that_refuses_is_logged() {
    let (logs, _guard) = Logs::install();
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("unix.socket");
    // A socket file with nobody listening: connection refused.
    drop(std::os::unix::net::UnixListener::bind(&socket).unwrap());
    let cluster = FakeCluster::new();
    let shutdown = start(&cluster, &socket);
    eventually("the refusal logged", || {
        logs.text().contains("cannot connect to LXD at")
    })
    .await;
    shutdown.cancel();
}

#[tokio::test]
async fn garbage_and_errors_from_lxd_are_logged_and_retried() {
    let (logs, _guard) = Logs::install();
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("unix.socket");
    let script = Arc::new(Mutex::new(Script {
        instances: "this is not JSON".into(),
        status: 200,
        ..Script::default()
    }));
    let fake = FakeLxd::start(&socket, script.clone());
    let cluster = FakeCluster::new();
    let shutdown = start(&cluster, &socket);
    eventually("garbage logged", || {
        logs.text().contains("is not what LXD sends")
    })
    .await;
    {
        let mut script = script.lock().unwrap();
        script.instances =
            r#"{"type":"error","error":"database is locked","error_code":500,"metadata":null}"#
                .into();
        script.status = 500;
    }
    eventually("the LXD error logged", || {
        logs.text().contains("LXD refused /1.0/instances")
            && logs.text().contains("database is locked")
    })
    .await;
    assert_eq!(cluster.writes(), vec![]);
    fake.set_instances(&[instance_json("c1", MAC1, "")]);
    eventually("c1 named after LXD recovered", || {
        cluster.table.lock().unwrap().name_of_mac(mac(MAC1)) == Some("c1")
    })
    .await;
    shutdown.cancel();
}

#[tokio::test]
async fn events_name_rename_and_forget_and_garbage_events_are_skipped() {
    let (logs, _guard) = Logs::install();
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("unix.socket");
    let fake = FakeLxd::start(&socket, Arc::new(Mutex::new(Script::default())));
    fake.set_instances(&[]);
    let cluster = FakeCluster::new();
    let shutdown = start(&cluster, &socket);
    eventually("subscribed", || fake.subscriptions() == 1).await;
    eventually("listed", || logs.text().contains("following LXD")).await;

    // Created: read that one instance.
    fake.script
        .lock()
        .unwrap()
        .instance
        .insert("c1".into(), sync(&instance_json("c1", MAC1, "")));
    fake.event(event_json("instance-created", "c1", ""));
    eventually("c1 named", || {
        cluster.table.lock().unwrap().name_of_mac(mac(MAC1)) == Some("c1")
    })
    .await;

    // Garbage and pings do not end the stream.
    fake.event("{not an event".into());
    fake.send(Message::Ping(b"hello".to_vec().into()));
    eventually("garbage event logged", || {
        logs.text().contains("event skipped")
    })
    .await;
    eventually("the ping answered", || {
        fake.script.lock().unwrap().pongs >= 1
    })
    .await;

    // Updated: a static address appears.
    fake.script.lock().unwrap().instance.insert(
        "c1".into(),
        sync(&instance_json(
            "c1",
            MAC1,
            r#","user.raftmasq.ipv4":"172.16.5.9""#,
        )),
    );
    fake.event(event_json("instance-updated", "c1", ""));
    eventually("c1 reserved", || {
        cluster
            .table
            .lock()
            .unwrap()
            .reservation_for_mac(mac(MAC1))
            .is_some()
    })
    .await;

    // Renamed: the MAC gets the new name.
    {
        let mut script = fake.script.lock().unwrap();
        script.instance.remove("c1");
        script.instance.insert(
            "web".into(),
            sync(&instance_json(
                "web",
                MAC1,
                r#","user.raftmasq.ipv4":"172.16.5.9""#,
            )),
        );
    }
    fake.event(event_json("instance-renamed", "web", r#""old_name":"c1""#));
    eventually("renamed", || {
        cluster.table.lock().unwrap().name_of_mac(mac(MAC1)) == Some("web")
    })
    .await;

    // Deleted: forgotten, reservation and all.
    fake.event(event_json("instance-deleted", "web", ""));
    eventually("forgotten", || {
        cluster.writes().contains(&Command::ForgetMac {
            mac: mac(MAC1),
            now: 0,
        })
    })
    .await;
    let table = cluster.table.lock().unwrap();
    assert_eq!(table.name_of_mac(mac(MAC1)), None);
    assert!(table.reservation_for_mac(mac(MAC1)).is_none());
    drop(table);
    // The stream was never dropped.
    assert_eq!(fake.subscriptions(), 1);
    shutdown.cancel();
}

#[tokio::test]
async fn after_lxd_restarts_what_changed_meanwhile_is_picked_up() {
    let (logs, _guard) = Logs::install();
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("unix.socket");
    let script = Arc::new(Mutex::new(Script::default()));
    let fake = FakeLxd::start(&socket, script.clone());
    fake.set_instances(&[instance_json("c1", MAC1, ""), instance_json("c2", MAC2, "")]);
    let cluster = FakeCluster::new();
    let shutdown = start(&cluster, &socket);
    eventually("both named", || {
        let table = cluster.table.lock().unwrap();
        table.name_of_mac(mac(MAC1)).is_some() && table.name_of_mac(mac(MAC2)).is_some()
    })
    .await;

    // LXD goes away; while it is down c1 is deleted and c2 renamed.
    fake.stop();
    drop(fake);
    eventually("the loss logged", || {
        logs.text().contains("not following LXD")
    })
    .await;
    let fake = FakeLxd::start(&socket, script);
    fake.set_instances(&[instance_json("c2-new", MAC2, "")]);
    eventually("resynchronised", || {
        let table = cluster.table.lock().unwrap();
        table.name_of_mac(mac(MAC1)).is_none() && table.name_of_mac(mac(MAC2)) == Some("c2-new")
    })
    .await;
    assert!(cluster.writes().contains(&Command::ForgetMac {
        mac: mac(MAC1),
        now: 0
    }));
    shutdown.cancel();
}

#[tokio::test]
async fn the_same_instance_reported_twice_writes_once() {
    // A resync (or another host of an LXD cluster) proposes nothing new.
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("unix.socket");
    let fake = FakeLxd::start(&socket, Arc::new(Mutex::new(Script::default())));
    fake.set_instances(&[instance_json(
        "c1",
        MAC1,
        r#","user.raftmasq.ipv4":"172.16.5.1""#,
    )]);
    let cluster = FakeCluster::new();
    let first = start(&cluster, &socket);
    eventually("reserved", || {
        cluster
            .table
            .lock()
            .unwrap()
            .reservation_for_mac(mac(MAC1))
            .is_some()
    })
    .await;
    let second = start(&cluster, &socket);
    eventually("second subscribed", || fake.subscriptions() == 2).await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(cluster.writes().len(), 2, "{:?}", cluster.writes());
    first.cancel();
    second.cancel();
}

#[tokio::test]
async fn bad_names_and_unusable_static_addresses_are_logged_and_the_rest_applied() {
    let (logs, _guard) = Logs::install();
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("unix.socket");
    let fake = FakeLxd::start(&socket, Arc::new(Mutex::new(Script::default())));
    fake.set_instances(&[
        instance_json("bad_name", MAC1, ""),
        instance_json("far", MAC2, r#","user.raftmasq.ipv4":"10.9.9.9""#),
        instance_json(
            "first",
            "00:16:3e:00:00:03",
            r#","user.raftmasq.ipv4":"172.16.5.5""#,
        ),
        instance_json(
            "second",
            "00:16:3e:00:00:04",
            r#","user.raftmasq.ipv4":"172.16.5.5""#,
        ),
    ]);
    let cluster = FakeCluster::new();
    let shutdown = start(&cluster, &socket);
    eventually("the usable parts applied", || {
        let table = cluster.table.lock().unwrap();
        table.name_of_mac(mac(MAC2)) == Some("far")
            && table.name_of_mac(mac("00:16:3e:00:00:04")) == Some("second")
            && table
                .reservation_for_mac(mac("00:16:3e:00:00:03"))
                .is_some()
    })
    .await;
    let text = logs.text();
    for reason in [
        "instance name \"bad_name\" is not a DNS label",
        "instance far: static address 10.9.9.9 is outside the cluster's subnet 172.16.0.0/16",
        "instance second: static address 172.16.5.5 is reserved for 00:16:3e:00:00:03",
    ] {
        assert!(text.contains(reason), "{reason} not in\n{text}");
    }
    let table = cluster.table.lock().unwrap();
    assert_eq!(table.name_of_mac(mac(MAC1)), None);
    assert!(table.reservation_for_mac(mac(MAC2)).is_none());
    assert!(
        table
            .reservation_for_mac(mac("00:16:3e:00:00:04"))
            .is_none()
    );
    drop(table);
    shutdown.cancel();
}

#[tokio::test]
async fn an_instance_deleted_while_raftmasq_was_stopped_is_forgotten_at_its_start() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("unix.socket");
    let memory = dir.path().join("lxd-known.json");
    let fake = FakeLxd::start(&socket, Arc::new(Mutex::new(Script::default())));
    fake.set_instances(&[
        instance_json("c1", MAC1, r#","user.raftmasq.ipv4":"172.16.5.1""#),
        instance_json("c2", MAC2, ""),
    ]);
    let cluster = FakeCluster::new();
    let run = |cluster: &FakeCluster| {
        let shutdown = CancellationToken::new();
        let mut settings = settings(&socket);
        settings.memory = Some(memory.clone());
        let task = tokio::spawn(raftmasq_lxd::run(
            cluster.clone(),
            settings,
            shutdown.clone(),
        ));
        (shutdown, task)
    };
    let (shutdown, task) = run(&cluster);
    eventually("both named", || {
        let table = cluster.table.lock().unwrap();
        table.name_of_mac(mac(MAC1)).is_some() && table.name_of_mac(mac(MAC2)).is_some()
    })
    .await;
    eventually("remembered", || memory.exists()).await;
    shutdown.cancel();
    task.await.unwrap();

    // While raftmasq is stopped: c1 is deleted, c2 loses nothing.
    fake.set_instances(&[instance_json("c2", MAC2, "")]);
    let (shutdown, task) = run(&cluster);
    eventually("c1 forgotten at start", || {
        let table = cluster.table.lock().unwrap();
        table.name_of_mac(mac(MAC1)).is_none() && table.reservation_for_mac(mac(MAC1)).is_none()
    })
    .await;
    assert_eq!(
        cluster.table.lock().unwrap().name_of_mac(mac(MAC2)),
        Some("c2")
    );
    shutdown.cancel();
    task.await.unwrap();
}

#[tokio::test]
async fn one_warning_per_outage_not_one_per_retry() {
    let (logs, _guard) = Logs::install();
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("unix.socket");
    let cluster = FakeCluster::new();
    let shutdown = start(&cluster, &socket);
    eventually("several retries", || {
        logs.text().matches("still not following LXD").count() >= 3
    })
    .await;
    assert_eq!(logs.text().matches("WARN").count(), 1, "{}", logs.text());
    shutdown.cancel();
}
