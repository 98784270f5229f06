//! The parts of LXD's REST API this crate reads, as serde types. Only what is
//! used is declared; every other field is ignored, so newer LXD (or Incus)
//! versions that add fields still parse.

use std::collections::BTreeMap;

use serde::Deserialize;

/// LXD's default project: its instances are named without a suffix.
pub const DEFAULT_PROJECT: &str = "default";

/// Every LXD answer: `{"type": "sync"|"error", "status_code", "error", "metadata"}`.
#[derive(Debug, Deserialize)]
pub struct Envelope<T> {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub error: String,
    #[serde(default)]
    pub error_code: u16,
    pub metadata: Option<T>,
}

/// One instance (`GET /1.0/instances?recursion=1` or `/1.0/instances/NAME`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Instance {
    pub name: String,
    /// Absent from LXD versions without projects: the default project.
    #[serde(default = "default_project")]
    pub project: String,
    /// Instance config with the profiles' keys folded in (`user.*`, `volatile.*`).
    #[serde(default)]
    pub expanded_config: BTreeMap<String, String>,
    /// Devices with the profiles' devices folded in: device name -> its keys.
    #[serde(default)]
    pub expanded_devices: BTreeMap<String, BTreeMap<String, String>>,
}

fn default_project() -> String {
    DEFAULT_PROJECT.to_string()
}

/// One message of `GET /1.0/events?type=lifecycle`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Event {
    #[serde(rename = "type")]
    pub kind: String,
    /// Present since LXD 4.x; older versions put `?project=` in the source.
    #[serde(default)]
    pub project: Option<String>,
    pub metadata: Lifecycle,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Lifecycle {
    /// e.g. `instance-created`, `instance-updated`, `instance-renamed`.
    pub action: String,
    /// e.g. `/1.0/instances/c1` or `/1.0/instances/c1?project=p`.
    pub source: String,
    /// `instance-renamed` carries `old_name`.
    #[serde(default)]
    pub context: Option<serde_json::Map<String, serde_json::Value>>,
}
