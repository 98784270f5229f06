//! `dnsctl release ADDRESS`: end a lease now.

use std::net::Ipv4Addr;

use reqwest::Method;

use super::{Style, render};
use crate::api::Done;
use crate::client::Client;
use crate::error::Error;

pub(super) fn release(client: &Client, address: Ipv4Addr, style: &Style) -> Result<String, Error> {
    let done: Done = client.write(Method::POST, &format!("/leases/{address}/release"), &())?;
    render(style, &done, |d, _| format!("{}\n", d.message))
}
