//! ProjectDiscovery Cloud Platform. One key per user. `GET /v1/user` is how ProjectDiscovery's own
//! tools validate a key: a 200 with an empty `email` means invalid.

use reqwest::Method;
use reqwest::header::HeaderName;
use serde_json::Value;

use super::{Auth, Endpoint, Vendor, is_uuid_shaped};

#[derive(Debug)]
pub struct ProjectDiscovery;

impl Vendor for ProjectDiscovery {
    fn name(&self) -> &str {
        "projectdiscovery"
    }
    fn env_base_url(&self) -> &str {
        "PROJECTDISCOVERY_BASE_URL"
    }
    fn default_base_url(&self) -> &str {
        "https://api.projectdiscovery.io"
    }
    fn official_hosts(&self) -> &[&'static str] {
        &["api.projectdiscovery.io", "api.dev.projectdiscovery.io"]
    }
    fn auth(&self) -> Auth<'_> {
        Auth { header: HeaderName::from_static("x-api-key"), prefix: "" }
    }
    fn rotate(&self) -> Endpoint<'_> {
        Endpoint { method: Method::POST, path: "/v1/user/apikey/rotate", query: &[] }
    }
    fn verify(&self) -> Endpoint<'_> {
        Endpoint { method: Method::GET, path: "/v1/user", query: &[] }
    }
    fn new_key<'a>(&self, body: &'a Value) -> Option<&'a str> {
        body["api_key"].as_str()
    }
    /// ProjectDiscovery's own tools read an empty `email` as an invalid key; an answer without the
    /// field says nothing either way.
    fn verify_vouches(&self, body: &Value) -> Option<bool> {
        body["email"].as_str().map(|email| !email.is_empty())
    }
    fn looks_like_key(&self, _old: &str, new: &str) -> bool {
        is_uuid_shaped(new)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn only_an_empty_email_is_a_refusal() {
        assert_eq!(ProjectDiscovery.verify_vouches(&json!({"email": "a@b.test", "name": "n"})), Some(true));
        assert_eq!(ProjectDiscovery.verify_vouches(&json!({"email": "", "name": ""})), Some(false));
        assert_eq!(ProjectDiscovery.verify_vouches(&json!({"user": {"email": "a@b.test"}})), None);
        assert_eq!(ProjectDiscovery.verify_vouches(&json!({"email": null})), None);
    }
}
