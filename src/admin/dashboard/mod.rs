//! The web dashboard every node serves on its admin listener: `/ui/` (the
//! page, embedded in the binary) and `GET /api/v1/history` (DHCP/DNS rates
//! over the last ten minutes and recent events). Everything else the page
//! shows comes from the ordinary admin API, which it polls.
//!
//! Modules: `assets` (the files and their headers), `browser` (the write
//! policy for browsers), `recorder` (the task that fills the history),
//! `rates` and `events` (pure history keeping), `ring` (their storage).

mod assets;
pub(crate) mod browser;
mod events;
mod rates;
pub(crate) mod recorder;
mod ring;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Json, Router};
use raftmasq_consensus::state::Millis;
use serde::Serialize;

pub(crate) use recorder::{History, SharedHistory};

use self::events::Event;
use self::rates::RateSample;
use super::Admin;

/// `/`, `/ui` and `/ui/...`: the page.
pub(crate) fn page_routes() -> Router<Admin> {
    Router::new()
        .route("/", get(|| async { Redirect::permanent("/ui/") }))
        .route("/ui", get(|| async { Redirect::permanent("/ui/") }))
        .route("/ui/", get(index))
        .route("/ui/{name}", get(asset))
}

/// Under `/api/v1`.
pub(crate) fn api_routes() -> Router<Admin> {
    Router::new().route("/history", get(history))
}

async fn index(headers: HeaderMap) -> Response {
    match assets::find("index.html") {
        Some(page) => assets::respond(page, &headers),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn asset(Path(name): Path<String>, headers: HeaderMap) -> Response {
    match assets::find(&name).filter(|asset| asset.name != "index.html") {
        Some(asset) => assets::respond(asset, &headers),
        None => {
            let mut response = (StatusCode::NOT_FOUND, "no such file\n").into_response();
            assets::protect(response.headers_mut());
            response
        }
    }
}

/// `GET /api/v1/history`.
#[derive(Debug, Serialize)]
struct HistoryView {
    /// Seconds between rate samples.
    interval_secs: u64,
    /// Seconds the history reaches back.
    window_secs: u64,
    /// Per-second rates, oldest first.
    rates: Vec<RateSample>,
    /// Oldest first.
    events: Vec<Event>,
    now: Millis,
}

async fn history(State(admin): State<Admin>) -> Json<HistoryView> {
    let history = recorder::lock(&admin.history);
    Json(HistoryView {
        interval_secs: recorder::SAMPLE_EVERY.as_secs(),
        window_secs: recorder::WINDOW.as_secs(),
        rates: history.rates.samples(),
        events: history.events.events(),
        now: admin.now(),
    })
}
