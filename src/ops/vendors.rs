//! `vendors`: every vendor the function knows, in its environment (built in, from the catalog, or
//! declared in `ROTATION_VENDORS`), with how it replaces keys, where its keys go, and where the
//! entry comes from. Talks to no vendor and changes nothing.

use std::collections::HashMap;

use serde::Serialize;

use super::{EnvProblem, EnvSource, Operator};
use crate::config::{ConfigError, Settings, Target};
use crate::function::FunctionReader;
use crate::notify::Notifier;
use crate::schedule::Interval;
use crate::sensitive::Sensitive;
use crate::store::OperatorStore;
use crate::vendors::{self, Endpoint, KEY_ID_PLACEHOLDER, Mode, VendorApi, Verdict, VerifyPolicy};

/// The vendors one environment knows.
#[derive(Debug, Serialize)]
pub struct VendorList {
    /// `function ARN` or `shell`.
    pub environment: String,
    pub vendors: Vec<KnownVendor>,
}

#[derive(Debug, Serialize)]
pub struct KnownVendor {
    /// The `rotation:vendor` value.
    pub name: String,
    /// `single-phase` or `overlap`.
    pub kind: &'static str,
    /// The default base URL, or `None` when each secret (or an override) must name it.
    pub base_url: Option<String>,
    pub source: Source,
    /// The documentation of the calls, when the entry gives it.
    pub docs: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    BuiltIn,
    Catalog,
    /// A catalog entry patched by `ROTATION_VENDORS`.
    CatalogOverridden,
    Declared,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::BuiltIn => "built-in",
            Source::Catalog => "catalog",
            Source::CatalogOverridden => "catalog, overridden in ROTATION_VENDORS",
            Source::Declared => "declared in ROTATION_VENDORS",
        }
    }
}

impl VendorList {
    /// Every vendor `settings` knows, built-ins first, then by name.
    pub fn of(environment: &EnvSource, settings: &Settings) -> Self {
        let base_url = |vendor| match settings.base_url(vendor, None) {
            Ok(url) => Some(url.to_string()),
            Err(ConfigError::NoBaseUrl { .. }) => None,
            Err(other) => Some(format!("invalid: {other}")),
        };
        let mut listed: Vec<KnownVendor> = vendors::ALL
            .iter()
            .map(|vendor| KnownVendor {
                name: vendor.name().to_owned(),
                kind: Mode::of(*vendor).as_str(),
                base_url: base_url(*vendor),
                source: Source::BuiltIn,
                docs: None,
            })
            .collect();
        let mut others: Vec<KnownVendor> = settings
            .declared
            .iter()
            .chain(&settings.catalog)
            .map(|declared| {
                let source =
                    match (declared.catalog, settings.declared.iter().any(|d| std::ptr::eq(*d, *declared))) {
                        (true, true) => Source::CatalogOverridden,
                        (true, false) => Source::Catalog,
                        (false, _) => Source::Declared,
                    };
                let vendor: &'static dyn vendors::Vendor = *declared;
                KnownVendor {
                    name: declared.name.clone(),
                    kind: Mode::of(vendor).as_str(),
                    base_url: base_url(vendor),
                    source,
                    docs: declared.docs.clone(),
                }
            })
            .collect();
        others.sort_by(|a, b| a.name.cmp(&b.name));
        listed.extend(others);
        VendorList { environment: environment.to_string(), vendors: listed }
    }
}

impl<S: OperatorStore, V: VendorApi, F: FunctionReader, N: Notifier> Operator<S, V, F, N> {
    /// The vendors of the environment the command is run in: the function named with `--function`,
    /// or the shell's with `--env-from-shell`. There is no secret to name a function here.
    pub async fn vendor_list(&self) -> Result<VendorList, EnvProblem> {
        let env = self.named_environment().await?;
        Ok(VendorList::of(&env.source, &env.settings))
    }
}

/// What `vendors test` found: the vendor's verdict on the key, and the calls a rotation would make,
/// as they would go out but for the key (never shown: its fingerprint only).
#[derive(Debug, Serialize)]
pub struct VendorTest {
    pub environment: String,
    pub vendor: String,
    pub kind: &'static str,
    pub fingerprint: String,
    /// `Some(true)` the vendor accepts the key, `Some(false)` it refuses it, `None` no verdict.
    pub accepted: Option<bool>,
    /// The verdict, in words.
    pub verdict: String,
    pub verify: Call,
    pub rotate: Call,
    pub revoke: Option<Call>,
    /// What a rotation could not work out (a computed expiry the schedule does not allow, say).
    pub problems: Vec<String>,
}

/// One call as it would be sent: the key goes into `header`, after its prefix, and nowhere else.
#[derive(Debug, Serialize)]
pub struct Call {
    pub method: String,
    pub url: String,
    /// The header that carries the key.
    pub header: String,
    /// The entry's other headers, none of which holds the key.
    pub headers: Vec<(String, String)>,
    pub body: Option<serde_json::Value>,
}

/// Why `vendors test` could not ask the vendor.
#[derive(Debug, thiserror::Error)]
pub enum VendorTestError {
    #[error(transparent)]
    Environment(#[from] EnvProblem),

    #[error(
        "{name:?} is not a vendor this environment knows ({known}); `api-key-rotator vendors` lists them"
    )]
    UnknownVendor { name: String, known: String },

    #[error("{0}; nothing was sent")]
    Config(#[from] ConfigError),
}

impl<S: OperatorStore, V: VendorApi, F: FunctionReader, N: Notifier> Operator<S, V, F, N> {
    /// Verifies `key` with the vendor `name` (the verify call only), in the environment the command
    /// runs in, and shows what a rotation would send, its computed values worked out for
    /// `schedule`.
    pub async fn vendor_test(
        &self,
        name: &str,
        key: &Sensitive,
        schedule: &str,
    ) -> Result<VendorTest, VendorTestError> {
        let env = self.named_environment().await?;
        let settings = &env.settings;
        let vendor = settings.vendor(name).ok_or_else(|| VendorTestError::UnknownVendor {
            name: name.to_owned(),
            known: settings.vendor_names(),
        })?;
        let base_url = settings.base_url(vendor, None)?;
        let call = |endpoint: Endpoint<'_>, body: Option<serde_json::Value>| {
            // As the client builds it (a path and query the entry's checks made URL-safe).
            let url = endpoint.url(&base_url).unwrap_or_default();
            let auth = vendor.auth();
            Call {
                method: endpoint.method.to_string(),
                url,
                header: format!("{}: {}<the key>", auth.header, auth.prefix),
                headers: vendor
                    .headers()
                    .iter()
                    .map(|(name, value)| (name.to_string(), value.to_str().unwrap_or_default().to_owned()))
                    .collect(),
                body,
            }
        };
        let mut problems = Vec::new();
        let interval = Interval::from_rules(None, Some(schedule));
        let body = match vendor.rotate_body(&HashMap::new(), interval) {
            Ok(body) => body,
            Err(problem) => {
                problems.push(format!("the rotate call's body for {schedule}: {problem}"));
                None
            }
        };
        let revoke = vendor.overlap().map(|overlap| {
            let endpoint = Endpoint {
                method: overlap.revoke_method.clone(),
                path: &overlap.revoke_path,
                query: &overlap.revoke_query,
            };
            call(endpoint, overlap.revoke_body(KEY_ID_PLACEHOLDER))
        });
        let target = Target { vendor, base_url: base_url.clone() };
        let verdict = self.verify(&target, key, VerifyPolicy::Check).await;
        let accepted = match verdict {
            Verdict::Accepted => Some(true),
            Verdict::Refused(_) => Some(false),
            _ => None,
        };
        Ok(VendorTest {
            environment: env.source.to_string(),
            vendor: vendor.name().to_owned(),
            kind: Mode::of(vendor).as_str(),
            fingerprint: key.fingerprint(),
            accepted,
            verdict: verdict.to_string(),
            verify: call(vendor.verify(), None),
            rotate: call(vendor.rotate(), body),
            revoke,
            problems,
        })
    }
}
