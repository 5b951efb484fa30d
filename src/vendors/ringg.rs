//! Ringg AI. One workspace key; regenerating it invalidates the old one immediately. Error bodies
//! are undocumented, so only status codes are read. `GET /workspace` echoes the key: never log it.

use reqwest::Method;
use reqwest::header::HeaderName;
use serde_json::Value;

use super::{Auth, Endpoint, Vendor, is_uuid_shaped};

#[derive(Debug)]
pub struct Ringg;

impl Vendor for Ringg {
    fn name(&self) -> &str {
        "ringg"
    }
    fn env_base_url(&self) -> &str {
        "RINGG_BASE_URL"
    }
    fn default_base_url(&self) -> &str {
        "https://prod-api.ringg.ai/ca/api/v0"
    }
    fn official_hosts(&self) -> &[&'static str] {
        &["prod-api.ringg.ai"]
    }
    fn auth(&self) -> Auth<'_> {
        Auth { header: HeaderName::from_static("x-api-key"), prefix: "" }
    }
    fn rotate(&self) -> Endpoint<'_> {
        Endpoint { method: Method::PATCH, path: "/workspace/api-key", query: &[] }
    }
    fn verify(&self) -> Endpoint<'_> {
        Endpoint { method: Method::GET, path: "/workspace", query: &[] }
    }
    fn new_key<'a>(&self, body: &'a Value) -> Option<&'a str> {
        body["new_api_key"].as_str()
    }
    fn refusal_hint(&self, status: u16) -> Option<&'static str> {
        matches!(status, 401 | 403).then_some(
            "The key may lack the right to manage API keys: a Ringg key needs a role that manages keys.",
        )
    }

    fn looks_like_key(&self, _old: &str, new: &str) -> bool {
        is_uuid_shaped(new)
    }
}
