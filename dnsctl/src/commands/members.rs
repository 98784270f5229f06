//! `dnsctl members add|promote|remove`: membership changes through the leader.

use reqwest::Method;

use super::{Style, render};
use crate::api::{MemberAdd, MemberChanged};
use crate::cli::MembersCommand;
use crate::client::Client;
use crate::error::Error;

pub(super) fn members(
    client: &Client,
    command: &MembersCommand,
    style: &Style,
) -> Result<String, Error> {
    let changed: MemberChanged = match command {
        MembersCommand::Add {
            id,
            cluster_addr,
            admin_addr,
        } => client.write(
            Method::POST,
            "/members",
            &MemberAdd {
                id: *id,
                cluster_addr: cluster_addr.clone(),
                admin_addr: admin_addr.clone(),
            },
        )?,
        MembersCommand::Promote { id } => {
            client.write(Method::POST, &format!("/members/{id}/promote"), &())?
        }
        MembersCommand::Remove { id } => {
            client.write(Method::DELETE, &format!("/members/{id}"), &())?
        }
    };
    render(style, &changed, |c, _| format!("{}\n", c.message))
}
