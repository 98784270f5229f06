//! A minimal client of the daemon's admin API, for tests.

use std::time::{Duration, Instant};

use serde_json::Value;

pub struct AdminClient {
    http: reqwest::Client,
}

impl Default for AdminClient {
    fn default() -> Self {
        // reqwest needs a TLS provider even for plain HTTP.
        if rustls::crypto::CryptoProvider::get_default().is_none() {
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .expect("http client");
        AdminClient { http }
    }
}

impl AdminClient {
    pub async fn status(&self, admin_addr: &str) -> Option<Value> {
        let response = self
            .http
            .get(format!("http://{admin_addr}/api/v1/status"))
            .send()
            .await
            .ok()?;
        response.json().await.ok()
    }

    /// Posts a state-machine command; `Ok` only when the cluster committed it.
    pub async fn command(&self, admin_addr: &str, command: &Value) -> Result<Value, String> {
        let response = self
            .http
            .post(format!("http://{admin_addr}/api/v1/commands"))
            .bearer_auth(crate::cluster::ADMIN_TOKEN)
            .json(command)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = response.status();
        let body: Value = response.json().await.map_err(|e| e.to_string())?;
        if status.is_success() {
            Ok(body)
        } else {
            Err(body.to_string())
        }
    }

    pub async fn leases(&self, admin_addr: &str, consistent: bool) -> Result<Vec<Value>, String> {
        let response = self
            .http
            .get(format!(
                "http://{admin_addr}/api/v1/leases?consistent={consistent}"
            ))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = response.status();
        let body: Value = response.json().await.map_err(|e| e.to_string())?;
        if !status.is_success() {
            return Err(body.to_string());
        }
        body.as_array()
            .cloned()
            .ok_or_else(|| format!("not a list: {body}"))
    }

    /// Waits until some node reports a leader and an initialised table.
    pub async fn wait_ready(
        &self,
        admin_addrs: &[String],
        timeout: Duration,
    ) -> Result<u64, String> {
        let deadline = Instant::now() + timeout;
        let mut last = String::new();
        while Instant::now() < deadline {
            for addr in admin_addrs {
                if let Some(status) = self.status(addr).await {
                    let leader = status["leader"].as_u64();
                    if let (Some(leader), Some(true)) = (leader, status["initialized"].as_bool()) {
                        return Ok(leader);
                    }
                    last = status.to_string();
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(format!(
            "no ready cluster within {timeout:?}; last status: {last}"
        ))
    }
}
