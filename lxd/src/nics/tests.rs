use std::collections::BTreeMap;

use super::*;

fn instance(
    name: &str,
    project: &str,
    config: &[(&str, &str)],
    devices: &[(&str, &[(&str, &str)])],
) -> Instance {
    Instance {
        name: name.into(),
        project: project.into(),
        expanded_config: config
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        expanded_devices: devices
            .iter()
            .map(|(name, keys)| {
                (
                    name.to_string(),
                    keys.iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect::<BTreeMap<_, _>>(),
                )
            })
            .collect(),
    }
}

const MAC1: &str = "00:16:3e:00:00:01";
const MAC2: &str = "00:16:3e:00:00:02";
const MAC3: &str = "00:16:3e:00:00:03";

fn mac(text: &str) -> MacAddr {
    text.parse().unwrap()
}

#[test]
fn managed_and_unmanaged_nics_on_the_bridge_are_found_by_their_volatile_mac() {
    let managed = instance(
        "c1",
        "default",
        &[("volatile.eth0.hwaddr", MAC1)],
        &[
            (
                "eth0",
                &[("type", "nic"), ("network", "lxdbr0"), ("name", "eth0")],
            ),
            ("root", &[("type", "disk"), ("path", "/")]),
        ],
    );
    let unmanaged = instance(
        "C2",
        "default",
        &[("volatile.eth0.hwaddr", MAC2)],
        &[(
            "eth0",
            &[
                ("type", "nic"),
                ("nictype", "bridged"),
                ("parent", "lxdbr0"),
            ],
        )],
    );
    let out = desired([&managed, &unmanaged], "lxdbr0");
    assert_eq!(out.problems, vec![]);
    assert_eq!(out.nics.len(), 2);
    assert_eq!(out.nics[&mac(MAC1)].name.as_deref(), Some("c1"));
    assert_eq!(out.nics[&mac(MAC1)].device, "eth0");
    // DNS is case-blind; the table keeps names in lowercase.
    assert_eq!(out.nics[&mac(MAC2)].name.as_deref(), Some("c2"));
    assert_eq!(out.nics[&mac(MAC2)].static_v4, None);
}

#[test]
fn nics_elsewhere_are_ignored_without_a_word() {
    let other = instance(
        "c1",
        "default",
        &[
            ("volatile.eth0.hwaddr", MAC1),
            ("volatile.eth1.hwaddr", MAC2),
        ],
        &[
            ("eth0", &[("type", "nic"), ("network", "otherbr")]),
            (
                "eth1",
                &[
                    ("type", "nic"),
                    ("nictype", "macvlan"),
                    ("parent", "lxdbr0"),
                ],
            ),
            ("disk", &[("type", "disk"), ("network", "lxdbr0")]),
        ],
    );
    let out = desired([&other], "lxdbr0");
    assert_eq!(out, Desired::default());
}

#[test]
fn an_explicit_hwaddr_wins_and_a_missing_or_bad_mac_is_a_problem() {
    let explicit = instance(
        "c1",
        "default",
        &[("volatile.eth0.hwaddr", MAC2)],
        &[(
            "eth0",
            &[("type", "nic"), ("network", "lxdbr0"), ("hwaddr", MAC1)],
        )],
    );
    let none = instance(
        "c2",
        "default",
        &[],
        &[("eth0", &[("type", "nic"), ("network", "lxdbr0")])],
    );
    let bad = instance(
        "c3",
        "default",
        &[("volatile.eth0.hwaddr", "zz:16")],
        &[("eth0", &[("type", "nic"), ("network", "lxdbr0")])],
    );
    let out = desired([&explicit, &none, &bad], "lxdbr0");
    assert_eq!(
        out.nics.keys().copied().collect::<Vec<_>>(),
        vec![mac(MAC1)]
    );
    assert_eq!(
        out.problems,
        vec![
            Problem::BadMac {
                instance: "c2".into(),
                device: "eth0".into(),
                value: None
            },
            Problem::BadMac {
                instance: "c3".into(),
                device: "eth0".into(),
                value: Some("zz:16".into())
            },
        ]
    );
    assert!(
        out.problems[1]
            .to_string()
            .contains("\"zz:16\" is not a MAC address")
    );
}

#[test]
fn static_address_from_the_nic_then_the_device_key_then_the_instance_key() {
    let nic = &[
        ("type", "nic"),
        ("network", "lxdbr0"),
        ("ipv4.address", "172.16.5.1"),
    ][..];
    let plain = &[("type", "nic"), ("network", "lxdbr0")][..];
    let all = [
        ("volatile.eth0.hwaddr", MAC1),
        ("user.raftmasq.ipv4.eth0", "172.16.5.2"),
        ("user.raftmasq.ipv4", "172.16.5.3"),
    ];
    type Keys<'a> = &'a [(&'a str, &'a str)];
    let cases: [(Keys, Keys, Option<&str>); 4] = [
        (nic, &all, Some("172.16.5.1")),
        (plain, &all, Some("172.16.5.2")),
        (
            plain,
            &[
                ("volatile.eth0.hwaddr", MAC1),
                ("user.raftmasq.ipv4", "172.16.5.3"),
            ],
            Some("172.16.5.3"),
        ),
        (
            plain,
            &[("volatile.eth0.hwaddr", MAC1), ("user.raftmasq.ipv4", " ")],
            None,
        ),
    ];
    for (device, config, expected) in cases {
        let i = instance("c1", "default", config, &[("eth0", device)]);
        let out = desired([&i], "lxdbr0");
        assert_eq!(out.problems, vec![]);
        assert_eq!(
            out.nics[&mac(MAC1)].static_v4,
            expected.map(|a| a.parse().unwrap()),
            "{device:?} {config:?}"
        );
    }
    let bad = instance(
        "c1",
        "default",
        &[
            ("volatile.eth0.hwaddr", MAC1),
            ("user.raftmasq.ipv4", "172.16.5"),
        ],
        &[("eth0", plain)],
    );
    let out = desired([&bad], "lxdbr0");
    assert_eq!(out.nics[&mac(MAC1)].static_v4, None);
    assert_eq!(
        out.problems[0].to_string(),
        "instance c1: user.raftmasq.ipv4 = \"172.16.5\" is not an IPv4 address; no reservation"
    );
}

#[test]
fn another_projects_instance_is_name_dot_project_and_invalid_names_get_none() {
    let nic = &[("type", "nic"), ("network", "lxdbr0")][..];
    let project = instance(
        "Web1",
        "shop",
        &[("volatile.eth0.hwaddr", MAC1)],
        &[("eth0", nic)],
    );
    let invalid = instance(
        "bad_name",
        "default",
        &[("volatile.eth0.hwaddr", MAC2)],
        &[("eth0", nic)],
    );
    let odd_project = instance(
        "c3",
        "my_project",
        &[("volatile.eth0.hwaddr", MAC3)],
        &[("eth0", nic)],
    );
    let out = desired([&project, &invalid, &odd_project], "lxdbr0");
    // Still followed: deleting them releases their leases.
    assert_eq!(out.nics.len(), 3);
    assert_eq!(out.nics[&mac(MAC1)].name.as_deref(), Some("web1.shop"));
    assert_eq!(out.nics[&mac(MAC1)].project, "shop");
    assert_eq!(out.nics[&mac(MAC2)].name, None);
    assert_eq!(out.nics[&mac(MAC3)].name, None);
    assert!(out.problems.contains(&Problem::InvalidName {
        instance: "bad_name".into()
    }));
    assert!(out.problems.contains(&Problem::InvalidProject {
        instance: "c3".into(),
        project: "my_project".into()
    }));
}

#[test]
fn a_mac_seen_twice_keeps_the_first() {
    let nic = &[("type", "nic"), ("network", "lxdbr0"), ("hwaddr", MAC1)][..];
    let a = instance("a", "default", &[], &[("eth0", nic)]);
    let b = instance("b", "default", &[], &[("eth0", nic)]);
    let out = desired([&a, &b], "lxdbr0");
    assert_eq!(out.nics[&mac(MAC1)].instance, "a");
    assert_eq!(
        out.problems,
        vec![Problem::DuplicateMac {
            mac: mac(MAC1),
            instance: "b".into(),
            kept: "a".into()
        }]
    );
}

#[test]
fn lxd_json_parses_into_instances() {
    // Trimmed from LXD 5.0.2's /1.0/instances?recursion=1.
    let json = r#"{"type":"sync","status":"Success","status_code":200,"operation":"","error_code":0,"error":"",
      "metadata":[{"architecture":"x86_64","config":{"image.os":"busybox"},"devices":{},
        "ephemeral":false,"profiles":["default"],"stateful":false,"description":"","created_at":"2026-12-03T12:00:00Z",
        "expanded_config":{"volatile.eth0.hwaddr":"00:16:3e:ab:cd:ef","user.raftmasq.ipv4":"172.16.9.9"},
        "expanded_devices":{"eth0":{"name":"eth0","network":"lxdbr0","type":"nic"},"root":{"path":"/","pool":"default","type":"disk"}},
        "name":"c1","status":"Running","status_code":103,"last_used_at":"2026-12-03T12:00:00Z","location":"none","type":"container","project":"default"}]}"#;
    let envelope: crate::api::Envelope<Vec<Instance>> = serde_json::from_str(json).unwrap();
    let instances = envelope.metadata.unwrap();
    let out = desired(&instances, "lxdbr0");
    let nic = &out.nics[&mac("00:16:3e:ab:cd:ef")];
    assert_eq!(nic.name.as_deref(), Some("c1"));
    assert_eq!(nic.static_v4, Some("172.16.9.9".parse().unwrap()));
}
