//! What a lifecycle event means for the instances we hold. Pure.

use crate::api::{DEFAULT_PROJECT, Event};

/// What to do about one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Read this instance again (created, started, updated, restored...):
    /// "updated" carries no detail.
    Reread { project: String, name: String },
    /// The instance is gone.
    Remove { project: String, name: String },
    /// `old` is now called `name`: drop `old`, read `name`.
    Rename {
        project: String,
        old: String,
        name: String,
    },
    /// A profile changed: any instance's expanded devices or config may have.
    RereadAll,
    /// Nothing that names, addresses or removes a NIC.
    Nothing,
}

/// Instance actions after which its NICs, name or keys may differ.
const REREAD: &[&str] = &[
    "instance-created",
    "instance-started",
    "instance-restarted",
    "instance-updated",
    "instance-restored",
];

pub fn classify(event: &Event) -> Change {
    if event.kind != "lifecycle" {
        return Change::Nothing;
    }
    let action = event.metadata.action.as_str();
    if action == "profile-updated" || action == "profile-renamed" {
        return Change::RereadAll;
    }
    let Some((name, query_project)) = instance_source(&event.metadata.source) else {
        return Change::Nothing;
    };
    let project = event
        .project
        .clone()
        .filter(|p| !p.is_empty())
        .or(query_project)
        .unwrap_or_else(|| DEFAULT_PROJECT.to_string());
    match action {
        "instance-deleted" => Change::Remove { project, name },
        "instance-renamed" => {
            let old = event
                .metadata
                .context
                .as_ref()
                .and_then(|c| c.get("old_name"))
                .and_then(|v| v.as_str())
                .map(str::to_string);
            match old {
                Some(old) if old != name => Change::Rename { project, old, name },
                // Without the old name, only a full read finds what went.
                _ => Change::RereadAll,
            }
        }
        action if REREAD.contains(&action) => Change::Reread { project, name },
        _ => Change::Nothing,
    }
}

/// `/1.0/instances/NAME[?project=P]` -> (NAME, P). Snapshots and other
/// sub-resources (`/1.0/instances/NAME/snapshots/s1`) are not instances.
fn instance_source(source: &str) -> Option<(String, Option<String>)> {
    let rest = source.strip_prefix("/1.0/instances/")?;
    let (path, query) = match rest.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (rest, None),
    };
    if path.is_empty() || path.contains('/') {
        return None;
    }
    let project = query.and_then(|q| {
        q.split('&')
            .find_map(|pair| pair.strip_prefix("project="))
            .map(str::to_string)
    });
    Some((path.to_string(), project))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(json: &str) -> Event {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn updates_and_starts_reread_the_instance() {
        for action in REREAD {
            let e = event(&format!(
                r#"{{"type":"lifecycle","metadata":{{"action":"{action}","source":"/1.0/instances/c1"}}}}"#
            ));
            assert_eq!(
                classify(&e),
                Change::Reread {
                    project: "default".into(),
                    name: "c1".into()
                },
                "{action}"
            );
        }
    }

    #[test]
    fn delete_removes_and_rename_carries_the_old_name() {
        let e = event(
            r#"{"type":"lifecycle","project":"web","metadata":{"action":"instance-deleted","source":"/1.0/instances/c1?project=web"}}"#,
        );
        assert_eq!(
            classify(&e),
            Change::Remove {
                project: "web".into(),
                name: "c1".into()
            }
        );
        let e = event(
            r#"{"type":"lifecycle","metadata":{"action":"instance-renamed","source":"/1.0/instances/c2?project=web","context":{"old_name":"c1"}}}"#,
        );
        assert_eq!(
            classify(&e),
            Change::Rename {
                project: "web".into(),
                old: "c1".into(),
                name: "c2".into()
            }
        );
        let e = event(
            r#"{"type":"lifecycle","metadata":{"action":"instance-renamed","source":"/1.0/instances/c2"}}"#,
        );
        assert_eq!(classify(&e), Change::RereadAll);
    }

    #[test]
    fn other_events_change_nothing_and_profiles_reread_all() {
        for json in [
            r#"{"type":"lifecycle","metadata":{"action":"instance-stopped","source":"/1.0/instances/c1"}}"#,
            r#"{"type":"lifecycle","metadata":{"action":"instance-snapshot-created","source":"/1.0/instances/c1/snapshots/s"}}"#,
            r#"{"type":"lifecycle","metadata":{"action":"network-updated","source":"/1.0/networks/lxdbr0"}}"#,
            r#"{"type":"logging","metadata":{"action":"instance-updated","source":"/1.0/instances/c1"}}"#,
            r#"{"type":"lifecycle","metadata":{"action":"instance-updated","source":"/1.0/instances/"}}"#,
        ] {
            assert_eq!(classify(&event(json)), Change::Nothing, "{json}");
        }
        let e = event(
            r#"{"type":"lifecycle","metadata":{"action":"profile-updated","source":"/1.0/profiles/default"}}"#,
        );
        assert_eq!(classify(&e), Change::RereadAll);
    }
}
