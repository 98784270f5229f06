//! `dnsctl members [list|add|promote|demote|remove]`: the membership and its
//! roles, and changes to it through the leader.

use reqwest::Method;

use super::{Style, render};
use crate::api::{MemberAdd, MemberChanged, MembersView};
use crate::cli::{MembersArgs, MembersCommand};
use crate::client::Client;
use crate::error::Error;
use crate::output::{Cell, Tone, or_dash, table};

pub(super) fn members(client: &Client, args: &MembersArgs, style: &Style) -> Result<String, Error> {
    let changed: MemberChanged = match &args.command {
        None | Some(MembersCommand::List) => {
            let view: MembersView = client.get("/members", &[])?;
            return render(style, &view, members_text);
        }
        Some(MembersCommand::Add {
            id,
            cluster_addr,
            admin_addr,
        }) => client.write(
            Method::POST,
            "/members",
            &MemberAdd {
                id: *id,
                cluster_addr: cluster_addr.clone(),
                admin_addr: admin_addr.clone(),
            },
        )?,
        Some(MembersCommand::Promote { id }) => {
            client.write(Method::POST, &format!("/members/{id}/promote"), &())?
        }
        Some(MembersCommand::Demote { id }) => {
            client.write(Method::POST, &format!("/members/{id}/demote"), &())?
        }
        Some(MembersCommand::Remove { id }) => {
            client.write(Method::DELETE, &format!("/members/{id}"), &())?
        }
    };
    render(style, &changed, |c, _| format!("{}\n", c.message))
}

/// One line per member: id, role, whether it leads, addresses; then the
/// counts, with a warning when the voters are not 3 or more.
pub fn members_text(view: &MembersView, colour: bool) -> String {
    let rows: Vec<Vec<Cell>> = view
        .members
        .iter()
        .map(|member| {
            vec![
                member.id.to_string().into(),
                member.role.clone().into(),
                if member.leader {
                    Cell::new("leader", Tone::Good)
                } else {
                    Cell::from("")
                },
                member.cluster_addr.clone().into(),
                or_dash(member.admin_addr.as_ref()).into(),
                or_dash(member.bridge_address).into(),
            ]
        })
        .collect();
    let mut out = table(
        &["id", "role", "", "cluster addr", "admin addr", "bridge"],
        &rows,
        colour,
    );
    let voters = view.members.iter().filter(|m| m.role == "voter").count();
    let learners = view.members.len() - voters;
    out.push_str(&format!(
        "{voters} voter{}, {learners} learner{} · leader: {}\n",
        if voters == 1 { "" } else { "s" },
        if learners == 1 { "" } else { "s" },
        view.leader
            .map_or_else(|| "none known".to_string(), |id| format!("node {id}")),
    ));
    if voters < 3 {
        out.push_str("note: fewer than 3 voters survive no voter failure; 3 or 5 voters and the rest learners is the recommended shape\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::MemberRoleView;

    fn member(id: u64, role: &str, leader: bool) -> MemberRoleView {
        MemberRoleView {
            id,
            role: role.into(),
            leader,
            cluster_addr: format!("10.99.0.{id}:7380"),
            admin_addr: None,
            bridge_address: None,
        }
    }

    #[test]
    fn roles_and_counts_are_listed() {
        let view = MembersView {
            node_id: 4,
            leader: Some(1),
            members: vec![
                member(1, "voter", true),
                member(2, "voter", false),
                member(3, "voter", false),
                member(4, "learner", false),
            ],
        };
        let text = members_text(&view, false);
        assert!(
            text.contains("3 voters, 1 learner · leader: node 1"),
            "{text}"
        );
        let learner_line = text.lines().find(|l| l.starts_with('4')).expect("row 4");
        assert!(learner_line.contains("learner"), "{learner_line}");
        assert!(!text.contains("fewer than 3"), "{text}");
    }

    #[test]
    fn too_few_voters_and_no_leader_are_said() {
        let view = MembersView {
            node_id: 2,
            leader: None,
            members: vec![member(1, "voter", false), member(2, "learner", false)],
        };
        let text = members_text(&view, false);
        assert!(text.contains("leader: none known"), "{text}");
        assert!(text.contains("fewer than 3 voters"), "{text}");
    }
}
