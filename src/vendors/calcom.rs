//! Cal.com API v2. Refresh creates a new key and then deletes the presented one; the new key gets
//! the expiry sent in the body (30 days by default), not the old key's.

use std::collections::HashMap;

use reqwest::Method;
use reqwest::header::AUTHORIZATION;
use serde_json::{Value, json};

use super::{Auth, Endpoint, Vendor};
use crate::schedule::{Interval, UnreadableSchedule};

pub const TAG_DAYS_VALID: &str = "rotation:calcom-days-valid";
pub const TAG_NEVER_EXPIRES: &str = "rotation:calcom-never-expires";
/// Cal.com's own default lifetime, and the least this function asks for.
const MIN_DAYS_VALID: u32 = 30;

#[derive(Debug)]
pub struct CalCom;

/// Why the expiry tags cannot be honoured (the only tags a vendor's rotate call reads).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ExpiryError {
    #[error("{TAG_NEVER_EXPIRES} is {0:?}; it may only be \"true\" (or absent)")]
    NeverExpiresValue(String),

    #[error("{TAG_DAYS_VALID} and {TAG_NEVER_EXPIRES} are both set; Cal.com accepts only one, so keep one")]
    BothSet,

    #[error("{TAG_DAYS_VALID} is {0:?}; it must be a whole number of days, at least 1")]
    NotDays(String),

    /// `schedule`: why the schedule is unknown (`None`: the secret has none).
    #[error(
        "{TAG_DAYS_VALID} is {days}, but {}, so there is no telling whether a key valid for {days} days outlives the next rotation. Use a rate() or cron() schedule, or set {TAG_NEVER_EXPIRES}=true instead of {TAG_DAYS_VALID}",
        schedule.as_ref().map_or_else(|| "the secret has no rotation schedule".to_owned(), ToString::to_string)
    )]
    NoSchedule { days: u32, schedule: Option<UnreadableSchedule> },

    #[error(
        "{TAG_DAYS_VALID} is {days} but the secret {}: a new key could expire before its own rotation and lock you out. Use more than {gap} days (twice that leaves room for a failed rotation), or {TAG_NEVER_EXPIRES}=true",
        if *cron { format!("has a cron() schedule whose runs can be {gap} days apart") } else { format!("rotates every {gap} days") }
    )]
    TooShort { days: u32, gap: u32, cron: bool },

    #[error(transparent)]
    Schedule(#[from] UnreadableSchedule),

    /// A computed expiry (`{"$expiry": …}` in a declared or catalog vendor's rotate body).
    #[error("{vendor}: {problem}")]
    Lifetime { vendor: String, problem: crate::timing::LifetimeProblem },
}

impl Vendor for CalCom {
    fn name(&self) -> &str {
        "calcom"
    }
    fn env_base_url(&self) -> &str {
        "CALCOM_BASE_URL"
    }
    fn default_base_url(&self) -> &str {
        "https://api.cal.com"
    }
    fn official_hosts(&self) -> &[&'static str] {
        &["api.cal.com", "api.cal.eu"]
    }
    fn auth(&self) -> Auth<'_> {
        Auth { header: AUTHORIZATION, prefix: "Bearer " }
    }
    fn rotate(&self) -> Endpoint<'_> {
        Endpoint { method: Method::POST, path: "/v2/api-keys/refresh", query: &[] }
    }
    fn verify(&self) -> Endpoint<'_> {
        Endpoint { method: Method::GET, path: "/v2/me", query: &[] }
    }

    fn rotate_body(
        &self,
        tags: &HashMap<String, String>,
        interval: Result<Interval, UnreadableSchedule>,
    ) -> Result<Option<Value>, ExpiryError> {
        let days = tags.get(TAG_DAYS_VALID).map(|v| v.trim());
        let never = match tags.get(TAG_NEVER_EXPIRES).map(|v| v.trim()) {
            None | Some("false") => false,
            Some("true") => true,
            Some(other) => return Err(ExpiryError::NeverExpiresValue(other.to_owned())),
        };
        match (days, never) {
            (Some(_), true) => Err(ExpiryError::BothSet),
            (None, true) => Ok(Some(json!({ "apiKeyNeverExpires": true }))),
            (Some(text), false) => {
                let days: u32 = text
                    .parse()
                    .ok()
                    .filter(|d| *d >= 1)
                    .ok_or_else(|| ExpiryError::NotDays(text.to_owned()))?;
                // The longest the key may have to live: the gap to the next rotation.
                let (gap, cron) = match interval {
                    Ok(Interval::Exactly(n)) => (n, false),
                    Ok(Interval::AtMost(n)) => (n, true),
                    Ok(Interval::Unknown) => return Err(ExpiryError::NoSchedule { days, schedule: None }),
                    Err(why) => return Err(ExpiryError::NoSchedule { days, schedule: Some(why) }),
                };
                if days <= gap {
                    return Err(ExpiryError::TooShort { days, gap, cron });
                }
                Ok(Some(json!({ "apiKeyDaysValid": days })))
            }
            (None, false) => {
                let days = match interval? {
                    Interval::Exactly(n) | Interval::AtMost(n) => n.saturating_mul(2).max(MIN_DAYS_VALID),
                    Interval::Unknown => MIN_DAYS_VALID,
                };
                Ok(Some(json!({ "apiKeyDaysValid": days })))
            }
        }
    }

    fn new_key<'a>(&self, body: &'a Value) -> Option<&'a str> {
        body["data"]["apiKey"].as_str()
    }
    fn answer_is_expected(&self, body: &Value) -> bool {
        body["status"] == "success"
    }

    fn refusal_hint(&self, status: u16) -> Option<&'static str> {
        match status {
            401 | 403 => Some(
                "The key may lack the right to manage API keys: a Cal.com team key needs an OWNER or ADMIN.",
            ),
            400 => Some("Cal.com rejected the request itself: check the rotation:calcom-* tags."),
            _ => None,
        }
    }

    fn looks_like_key(&self, old: &str, new: &str) -> bool {
        // `cal_` or `cal_live_` (or a self-hosted prefix) and 32 lower-case hex digits; a new
        // key keeps the old one's prefix.
        let hex_tail = |key: &str| {
            key.len() > 32
                && key.as_bytes()[key.len() - 32..].iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        };
        fn prefix(key: &str) -> &str {
            &key[..key.len() - 32]
        }
        hex_tail(new) && new.starts_with("cal_") && (!hex_tail(old) || prefix(old) == prefix(new))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(pairs: &[(&str, &str)], interval: Result<Interval, &str>) -> Result<Option<Value>, String> {
        let tags = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let interval =
            interval.map_err(|why| UnreadableSchedule { expression: "x".into(), why: why.to_owned() });
        CalCom.rotate_body(&tags, interval).map_err(|e| e.to_string())
    }

    #[test]
    fn default_expiry_outlives_the_next_rotation() {
        assert_eq!(body(&[], Ok(Interval::Exactly(7))), Ok(Some(json!({"apiKeyDaysValid": 30}))));
        assert_eq!(body(&[], Ok(Interval::Exactly(30))), Ok(Some(json!({"apiKeyDaysValid": 60}))));
        assert_eq!(body(&[], Ok(Interval::AtMost(62))), Ok(Some(json!({"apiKeyDaysValid": 124}))));
        assert_eq!(body(&[], Ok(Interval::Unknown)), Ok(Some(json!({"apiKeyDaysValid": 30}))));
        assert!(body(&[], Err("cannot read")).is_err());
    }

    #[test]
    fn explicit_expiry_tags() {
        assert_eq!(
            body(&[(TAG_DAYS_VALID, "45")], Ok(Interval::Exactly(30))),
            Ok(Some(json!({"apiKeyDaysValid": 45})))
        );
        assert_eq!(
            body(&[(TAG_NEVER_EXPIRES, "true")], Ok(Interval::Exactly(30))),
            Ok(Some(json!({"apiKeyNeverExpires": true})))
        );
        // An unreadable schedule does not matter when the tags decide.
        assert_eq!(
            body(&[(TAG_NEVER_EXPIRES, "true")], Err("x")),
            Ok(Some(json!({"apiKeyNeverExpires": true})))
        );
        // Against a cron() schedule, its longest gap; against an unreadable one, never.
        assert_eq!(
            body(&[(TAG_DAYS_VALID, "63")], Ok(Interval::AtMost(62))),
            Ok(Some(json!({"apiKeyDaysValid": 63})))
        );
        let err = body(&[(TAG_DAYS_VALID, "7")], Ok(Interval::AtMost(62))).unwrap_err();
        assert!(err.contains("cron()") && err.contains("62 days"), "{err}");
        let err = body(&[(TAG_DAYS_VALID, "400")], Err("bad")).unwrap_err();
        assert!(err.contains(TAG_NEVER_EXPIRES) && err.contains("cannot read"), "{err}");
        let err = body(&[(TAG_DAYS_VALID, "7")], Ok(Interval::Unknown)).unwrap_err();
        assert!(err.contains("no rotation schedule") && err.contains(TAG_NEVER_EXPIRES), "{err}");
        for (tags, expected) in [
            (vec![(TAG_DAYS_VALID, "30")], "expire before its own rotation"),
            (vec![(TAG_DAYS_VALID, "0")], "at least 1"),
            (vec![(TAG_DAYS_VALID, "ten")], "whole number"),
            (vec![(TAG_NEVER_EXPIRES, "yes")], "may only be \"true\""),
            (vec![(TAG_DAYS_VALID, "90"), (TAG_NEVER_EXPIRES, "true")], "both set"),
        ] {
            let err = body(&tags, Ok(Interval::Exactly(30))).unwrap_err();
            assert!(err.contains(expected), "{tags:?}: {err}");
        }
    }

    #[test]
    fn key_format() {
        let old = "cal_live_0123456789abcdef0123456789abcdef";
        assert!(CalCom.looks_like_key(old, "cal_live_fedcba9876543210fedcba9876543210"));
        assert!(!CalCom.looks_like_key(old, "cal_fedcba9876543210fedcba9876543210"));
        assert!(!CalCom.looks_like_key(old, "cal_live_FEDCBA9876543210FEDCBA9876543210"));
        assert!(CalCom.looks_like_key("legacy", "cal_fedcba9876543210fedcba9876543210"));
        // Vendor input never panics, whatever bytes it has.
        assert!(!CalCom.looks_like_key(old, "cal_日本0123456789abcdef0123456789abcde"));
    }

    #[test]
    fn a_readable_key_is_taken_whatever_the_status_says() {
        let expected = json!({"status": "success", "data": {"apiKey": "cal_x"}});
        assert_eq!(CalCom.new_key(&expected), Some("cal_x"));
        assert!(CalCom.answer_is_expected(&expected));
        let odd = json!({"status": "ok", "data": {"apiKey": "cal_x", "extra": 1}});
        assert_eq!(CalCom.new_key(&odd), Some("cal_x"));
        assert!(!CalCom.answer_is_expected(&odd));
        assert_eq!(CalCom.new_key(&json!({"status": "success", "data": {}})), None);
    }
}
