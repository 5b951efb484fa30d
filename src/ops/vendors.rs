//! `vendors`: every vendor the function knows, in its environment (built in, from the catalog, or
//! declared in `ROTATION_VENDORS`), with how it replaces keys, where its keys go, and where the
//! entry comes from. Talks to no vendor and changes nothing.

use serde::Serialize;

use super::{EnvProblem, EnvRule, EnvSource, Environment, Operator};
use crate::config::{ConfigError, Settings};
use crate::function::FunctionReader;
use crate::notify::Notifier;
use crate::store::OperatorStore;
use crate::vendors::{self, Mode, VendorApi};

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
        let env = match &self.rule {
            EnvRule::Shell(settings) => Environment {
                source: EnvSource::Shell,
                settings: settings.as_ref().clone(),
                function: None,
                instead_of: None,
            },
            EnvRule::Function { named: None } => return Err(EnvProblem::NoFunctionNamed),
            EnvRule::Function { named: Some(function) } => {
                let config = self
                    .functions
                    .configuration(function)
                    .await
                    .map_err(|error| EnvProblem::read_failed(function, error.into()))?;
                Environment::of_function(config, None)?
            }
        };
        Ok(VendorList::of(&env.source, &env.settings))
    }
}
