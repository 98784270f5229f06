//! `dnsctl conflicts`: clients that asked for a hostname another holds.

use super::{Style, now_millis, render};
use crate::api::ConflictView;
use crate::client::Client;
use crate::error::Error;
use crate::output::{Cell, Tone, relative, table};

pub(super) fn conflicts(client: &Client, consistent: bool, style: &Style) -> Result<String, Error> {
    let conflicts: Vec<ConflictView> =
        client.get("/conflicts", &[("consistent", consistent.to_string())])?;
    render(style, &conflicts, |list, colour| {
        conflicts_text(list, colour)
    })
}

pub(super) fn conflicts_text(list: &[ConflictView], colour: bool) -> String {
    if list.is_empty() {
        return "no hostname conflicts\n".into();
    }
    let now = now_millis();
    let rows: Vec<Vec<Cell>> = list
        .iter()
        .map(|c| {
            let outcome = match &c.granted_instead {
                Some(name) => Cell::new(format!("suffixed: {name}"), Tone::Warn),
                None => Cell::new("rejected (no name)", Tone::Bad),
            };
            let holder = if c.held_by_zone {
                "the zone (static record or NS)".to_string()
            } else {
                format!("{} ({})", c.owner_address, c.owner)
            };
            vec![
                c.name.clone().into(),
                holder.into(),
                format!("{} ({})", c.claimant_address, c.claimant_mac).into(),
                outcome,
                format!("{} ago", relative(i128::from(now) - i128::from(c.at))).into(),
            ]
        })
        .collect();
    table(
        &["name", "holder", "claimant", "outcome", "when"],
        &rows,
        colour,
    )
}
