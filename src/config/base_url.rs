//! Where a key may be sent: a base URL (https, or http to loopback), and the deployer's list of
//! hosts a `rotation:base-url` tag may name besides the vendor's official ones.

use std::net::IpAddr;

use reqwest::Url;
use url::Host;

use super::{ConfigError, HostProblem, Settings, UrlProblem};
use crate::vendors::Vendor;

/// An entry of `ROTATION_ALLOWED_HOSTS`.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct AllowedHost {
    /// `vendor=host`: that vendor's keys only. `None`: a bare host, which any built-in vendor's
    /// secret may name (deprecated: whoever can tag a secret can send any vendor's key there).
    pub(super) vendor: Option<String>,
    host: String,
    /// `None`: the scheme's default port only.
    port: Option<u16>,
}

impl Settings {
    /// The base URL for one secret: its `rotation:base-url` tag if the host is approved, else the
    /// deployer's default for the vendor.
    pub fn base_url(&self, vendor: &'static dyn Vendor, tag: Option<&str>) -> Result<Url, ConfigError> {
        let Some(text) = tag.map(str::trim) else {
            return match self.base_urls.get(vendor.name()) {
                Some(url) => Ok(url.clone()),
                None if vendor.default_base_url().is_empty() => {
                    Err(ConfigError::NoBaseUrl { vendor: vendor.name().to_owned() })
                }
                None => Url::parse(vendor.default_base_url()).map_err(ConfigError::DefaultBaseUrl),
            };
        };
        if vendor.declared() && !vendor.catalog() {
            return Err(ConfigError::BaseUrlTagOnDeclared { vendor: vendor.name() });
        }
        // Credentials in the tag are refused below, and never repeated: errors show the text
        // without them.
        let shown = without_userinfo(text);
        let url = parse_base_url(text)
            .map_err(|problem| ConfigError::BaseUrlTag { text: shown.clone(), problem })?;
        let host = host_text(&url);
        let official = vendor.official_hosts().contains(&host.as_str())
            && url.scheme() == "https"
            && url.port().is_none();
        // A bare entry (deprecated) predates the catalog: it serves the built-in vendors only.
        let built_in = crate::vendors::lookup(vendor.name()).is_some();
        let listed = self.allowed_hosts.iter().any(|allowed| {
            allowed.vendor.as_deref().map_or(built_in, |name| name == vendor.name())
                && allowed.host == host
                && match allowed.port {
                    None => url.port().is_none(),
                    Some(port) => url.port_or_known_default() == Some(port),
                }
        });
        if official || listed {
            Ok(url)
        } else {
            Err(ConfigError::HostNotAllowed {
                text: shown,
                vendor: vendor.name(),
                official: vendor.official_hosts(),
            })
        }
    }
}

/// A base URL: https, or http to a loopback host; no credentials, query or fragment.
pub fn parse_base_url(text: &str) -> Result<Url, UrlProblem> {
    if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(UrlProblem::Whitespace);
    }
    // Before the parser: a token with a `/` in it (`https://AbC+dE/fG=@api.cal.com`) parses as a
    // host and a path, with no user information at all.
    if userinfo_by_text(text).is_some() {
        return Err(UrlProblem::Credentials);
    }
    let url = Url::parse(text).map_err(UrlProblem::NotAUrl)?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(UrlProblem::Credentials);
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(UrlProblem::QueryOrFragment);
    }
    match url.scheme() {
        "https" => Ok(url),
        "http" if is_loopback(&url) => Ok(url),
        "http" => Err(UrlProblem::PlainHttp),
        other => Err(UrlProblem::Scheme(other.to_owned())),
    }
}

/// Where user information ends in `text`, whatever a URL parser would make of it: after a scheme
/// and its slashes (`https://`, `https:/`, `https:\\`, or `https:` alone for the schemes a parser
/// reads as web URLs), everything up to the last `@` is user information (a token may hold `/`,
/// `?` or `#`, which a parser takes for the end of the host). The range is what lies between the
/// slashes and that `@`.
fn userinfo_by_text(text: &str) -> Option<std::ops::Range<usize>> {
    let colon = text.find(':')?;
    let scheme = &text[..colon];
    let is_scheme = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme.chars().all(|c| c.is_ascii_alphanumeric() || "+.-".contains(c));
    let rest = &text[colon + 1..];
    let slashes = rest.len() - rest.trim_start_matches(['/', '\\']).len();
    let web = ["http", "https", "ws", "wss", "ftp"].iter().any(|web| scheme.eq_ignore_ascii_case(web));
    if !is_scheme || (slashes == 0 && !web) {
        return None;
    }
    let start = colon + 1 + slashes;
    let at = text.rfind('@').filter(|&at| at >= start)?;
    Some(start..at)
}

/// `text` as it may be shown: user information (`user:password@`) replaced by `***`. When an `@`
/// follows `://`, everything up to the last `@` is masked; otherwise a URL is shown as the parser
/// reads it (it finds user information in `https:/u:p@host` too), host and path kept; text that
/// does not parse is masked up to its last `@`, over-masking being the safe mistake.
pub fn without_userinfo(text: &str) -> String {
    // A parser drops spaces and tabs: where it would find user information, the text does not say.
    if text.chars().any(|c| c.is_whitespace() || c.is_control())
        && let Some(at) = text.rfind('@')
    {
        return format!("***{}", &text[at..]);
    }
    if let Some(userinfo) = userinfo_by_text(text) {
        return format!("{}***{}", &text[..userinfo.start], &text[userinfo.end..]);
    }
    if let Ok(url) =
        Url::parse(text).map_err(|_| ()).and_then(|url| if url.has_host() { Ok(url) } else { Err(()) })
    {
        if url.username().is_empty() && url.password().is_none() {
            return text.to_owned();
        }
        return format!("{}://***@{}", url.scheme(), &url[url::Position::BeforeHost..]);
    }
    let Some(at) = text.rfind('@') else { return text.to_owned() };
    // A scheme with its slashes (`https://`) before the `@` may stay; `user:` without one may not.
    let scheme = text.find(':').filter(|&colon| {
        colon > 0
            && text.as_bytes()[0].is_ascii_alphabetic()
            && text[..colon].chars().all(|c| c.is_ascii_alphanumeric() || "+.-".contains(c))
    });
    let slashes = |colon: usize| text[colon + 1..].bytes().take_while(|b| *b == b'/').count();
    let keep = scheme.filter(|&colon| slashes(colon) > 0).map_or(0, |colon| colon + 1 + slashes(colon));
    let keep = if keep <= at { keep } else { 0 };
    format!("{}***{}", &text[..keep], &text[at..])
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        Some(Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// The host as the allow-list spells it: lower case, IPv6 without brackets.
fn host_text(url: &Url) -> String {
    match url.host() {
        Some(Host::Ipv6(ip)) => ip.to_string(),
        Some(Host::Ipv4(ip)) => ip.to_string(),
        Some(Host::Domain(name)) => name.to_ascii_lowercase(),
        None => String::new(),
    }
}

/// `vendor=` (optional, and recommended) before `host`, `host:port`, `[v6]` or `[v6]:port`.
pub(super) fn parse_allowed_host(entry: &str) -> Result<AllowedHost, HostProblem> {
    // An entry is repeated in its error: never with user information in it.
    let shown = without_userinfo(entry);
    let (vendor, entry) = match shown.split_once('=') {
        Some((vendor, host)) => (Some(vendor.trim().to_owned()), host.trim()),
        None => (None, shown.as_str()),
    };
    if vendor.as_deref() == Some("") {
        return Err(HostProblem::NoVendor { entry: shown.clone() });
    }
    // A tab or space would never match a URL's host, and an IPv6 address without brackets reads
    // as another address and a port (`2001:db8::1:8443`).
    if entry.chars().any(|c| c.is_whitespace() || c.is_control())
        || (!entry.starts_with('[') && entry.matches(':').count() > 1)
    {
        return Err(HostProblem::NotAHost { entry: shown.clone() });
    }
    let (host, port) = if let Some(rest) = entry.strip_prefix('[') {
        let (host, after) =
            rest.split_once(']').ok_or_else(|| HostProblem::MissingBracket { entry: shown.clone() })?;
        match after {
            "" => (host, None),
            _ => (
                host,
                Some(
                    after
                        .strip_prefix(':')
                        .ok_or_else(|| HostProblem::NoPortAfterBracket { entry: shown.clone() })?,
                ),
            ),
        }
    } else {
        match entry.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (entry, None),
        }
    };
    if host.is_empty() || (host.contains(['/', ':', '@', ' ', '=']) && host.parse::<IpAddr>().is_err()) {
        return Err(HostProblem::NotAHost { entry: shown.clone() });
    }
    let not_a_port = |p: &str| HostProblem::NotAPort { entry: shown.clone(), port: p.to_owned() };
    let port = port.map(|p| p.parse::<u16>().map_err(|_| not_a_port(p))).transpose()?;
    // As a URL's host is read (`host_text`): an address in its shortest form, a name in lower
    // case and, past ASCII, in its punycode form (`bücher.example` is `xn--bcher-kva.example`).
    let host = match host.parse::<IpAddr>() {
        Ok(ip) => ip.to_string(),
        Err(_) => match Host::parse(host) {
            Ok(Host::Domain(name)) => name.to_ascii_lowercase(),
            _ => return Err(HostProblem::NotAHost { entry: shown.clone() }),
        },
    };
    Ok(AllowedHost { vendor, host, port })
}

impl std::fmt::Display for AllowedHost {
    /// The entry as the deployer would write it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(vendor) = &self.vendor {
            write!(f, "{vendor}=")?;
        }
        match (self.host.contains(':'), self.port) {
            (true, Some(port)) => write!(f, "[{}]:{port}", self.host),
            (true, None) => write!(f, "[{}]", self.host),
            (false, Some(port)) => write!(f, "{}:{port}", self.host),
            (false, None) => f.write_str(&self.host),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::ConfigError;
    use super::super::tests::{calcom, settings};

    #[test]
    fn official_hosts_of_the_same_vendor_only() {
        let s = settings("");
        assert!(s.base_url(calcom(), Some("https://api.cal.eu")).is_ok());
        assert!(s.base_url(calcom(), Some("https://API.CAL.COM/")).is_ok());
        for refused in [
            "https://api.projectdiscovery.io",
            "https://api.cal.eu:8443",
            "http://api.cal.eu",
            "https://evil.invalid",
            "https://api.cal.eu.evil.invalid",
            "https://user:pw@api.cal.eu",
            "https://api.cal.eu/?x=1",
            "ftp://api.cal.eu",
        ] {
            assert!(s.base_url(calcom(), Some(refused)).is_err(), "{refused}");
        }
    }

    #[test]
    fn credentials_in_a_tag_are_refused_and_never_repeated() {
        use super::without_userinfo;
        let s = settings("cal.internal.invalid");
        for text in [
            "https://deploy:TOKEN@api.cal.com",
            "https://TOKEN@api.cal.com/v2",
            "https://deploy:TOKEN@cal.internal.invalid",
            "https://deploy:TOKEN@evil.invalid/x?y",
            "deploy:TOKEN@api.cal.com",
            "https://deploy:TO KEN@api.cal.com",
            "ftp://a:TOKEN@b@api.cal.com",
            // The parser takes these as user information too.
            "https:///deploy:TOKEN@api.cal.com",
            "https:/deploy:TOKEN@api.cal.com",
            "https:deploy:TOKEN@api.cal.com",
            "https:/deploy:TOKEN@api.cal.com/p://x",
            "https://deploy:TOKEN@api.cal.com/?next=https://x",
            "not a url deploy:TOKEN@api.cal.com",
            // A base64 token holds `/` (and `+`, `=`): the parser reads a host and a path.
            "https://TOKEN+dE/fG=@api.cal.com",
            "https://TOKEN/@api.cal.com",
            "https://TOKEN?x#y@api.cal.com/v2",
            "https://deploy:TOKEN@cal.internal.invalid/a@b",
            // One slash, a backslash, or none: the parser reads a host and a path again.
            "https:/TOKEN+dE/fG=@api.cal.com",
            "https:\\\\TOKEN/x@api.cal.com",
            "https:\\TOKEN/x@api.cal.com",
            "HTTPS:TOKEN/x@api.cal.com",
            // Spaces and tabs a parser drops.
            "https://TOKEN/x@api.cal.com ",
            "ht\ttps://TOKEN/x@api.cal.com",
            "https://TO\tKEN/x@api.cal.com",
        ] {
            let error = s.base_url(calcom(), Some(text)).unwrap_err();
            let shown = format!("{error} {error:?}");
            assert!(!shown.contains("TOKEN") && !shown.contains("TO KEN"), "{shown}");
            assert!(shown.contains("***@"), "{shown}");
        }
        assert_eq!(without_userinfo("https://api.cal.com/a"), "https://api.cal.com/a");
        // An `@` anywhere after `://` ends user information, whatever the parser makes of it: a
        // token with a `/` parses as a host and a path.
        assert_eq!(without_userinfo("https://api.cal.com/a@b"), "https://***@b");
        assert_eq!(without_userinfo("https://AbC+dE/fG=@api.cal.com"), "https://***@api.cal.com");
        assert_eq!(without_userinfo("https://a?b#c@api.cal.com/v2"), "https://***@api.cal.com/v2");
        assert_eq!(without_userinfo("http://u:p@[::1]:9/x"), "http://***@[::1]:9/x");
        assert_eq!(without_userinfo("https:/u:TOKEN@api.cal.com/p://x"), "https:/***@api.cal.com/p://x");
        assert_eq!(without_userinfo("https:/AbC+dE/fG=@api.cal.com"), "https:/***@api.cal.com");
        assert_eq!(without_userinfo("user:p@host:8080"), "***@host:8080");
        assert_eq!(without_userinfo("host:8080"), "host:8080");
        assert_eq!(without_userinfo("h\u{e9}:p\u{e9}@h\u{f6}st"), "***@h\u{f6}st");
    }

    #[test]
    fn an_allow_list_entry_with_credentials_is_refused_and_never_repeated() {
        use super::super::{ENV_ALLOWED_HOSTS, Settings};
        for entry in ["deploy:TOKEN@cal.internal.invalid", "https://deploy:TOKEN@cal.internal.invalid:8443"] {
            let error = Settings::from_lookup(|name| (name == ENV_ALLOWED_HOSTS).then(|| entry.to_owned()))
                .unwrap_err();
            let shown = format!("{error} {error:?}");
            assert!(!shown.contains("TOKEN") && !shown.contains("deploy"), "{shown}");
        }
    }

    #[test]
    fn allow_list_entries() {
        let s = settings(" cal.internal.invalid , 127.0.0.1:8080,[::1]:9000,Self.Hosted.invalid:8443");
        assert!(s.base_url(calcom(), Some("https://cal.internal.invalid/v")).is_ok());
        assert!(s.base_url(calcom(), Some("https://cal.internal.invalid:8443")).is_err());
        assert!(s.base_url(calcom(), Some("http://127.0.0.1:8080/calcom")).is_ok());
        assert!(s.base_url(calcom(), Some("http://127.0.0.1:8081/calcom")).is_err());
        assert!(s.base_url(calcom(), Some("http://[::1]:9000")).is_ok());
        assert!(s.base_url(calcom(), Some("https://self.hosted.invalid:8443")).is_ok());
        // Listed, but plain http to a non-loopback host is still refused.
        assert!(s.base_url(calcom(), Some("http://cal.internal.invalid")).is_err());
    }

    /// `vendor=host` accepts that vendor's keys only; a bare host (deprecated) any built-in's.
    #[test]
    fn a_vendor_entry_accepts_that_vendors_keys_only() {
        use crate::vendors::{ALL, lookup};
        let s = settings("calcom=cal.internal.invalid, ringg = [::1]:9000 ,projectdiscovery=127.0.0.1:8080");
        assert!(s.bare_allowed_hosts().is_empty());
        let ringg = lookup("ringg").unwrap();
        let pd = lookup("projectdiscovery").unwrap();
        assert!(s.base_url(calcom(), Some("https://cal.internal.invalid/v2")).is_ok());
        assert!(s.base_url(ringg, Some("http://[::1]:9000/r")).is_ok());
        assert!(s.base_url(pd, Some("http://127.0.0.1:8080")).is_ok());
        for (vendor, tag) in [
            (ringg, "https://cal.internal.invalid/v2"),
            (pd, "https://cal.internal.invalid"),
            (calcom(), "http://[::1]:9000/r"),
            (calcom(), "http://127.0.0.1:8080"),
            (ringg, "http://127.0.0.1:8080"),
        ] {
            let error = s.base_url(vendor, Some(tag)).unwrap_err();
            assert!(matches!(error, ConfigError::HostNotAllowed { .. }), "{} {tag}: {error}", vendor.name());
        }
        // A bare host: every built-in vendor's keys, and `check` and the function's log say so.
        let s = settings("cal.internal.invalid, calcom=127.0.0.1:8080");
        for vendor in ALL {
            assert!(s.base_url(*vendor, Some("https://cal.internal.invalid")).is_ok(), "{}", vendor.name());
        }
        assert_eq!(s.bare_allowed_hosts(), ["cal.internal.invalid"]);
        // A name past ASCII matches the URL that names it, as the parser reads both.
        let s = settings("calcom=b\u{fc}cher.invalid");
        assert!(s.base_url(calcom(), Some("https://B\u{dc}CHER.invalid/v2")).is_ok());
        assert!(s.base_url(calcom(), Some("https://xn--bcher-kva.invalid")).is_ok());
    }

    /// A catalog vendor's secret may name its entry's own host, or one the allow-list gives that
    /// vendor; a bare entry, older than the catalog, serves the built-ins only.
    #[test]
    fn a_catalog_vendors_tag_names_its_own_host_or_one_allowed_for_it() {
        let s = settings("gitlab=gitlab.internal.invalid, cal.internal.invalid");
        let gitlab = s.vendor("gitlab").unwrap();
        assert!(s.base_url(gitlab, Some("https://gitlab.com/api/v4")).is_ok());
        assert!(s.base_url(gitlab, Some("https://gitlab.internal.invalid/api/v4")).is_ok());
        for refused in
            ["https://cal.internal.invalid/api/v4", "https://gitlab.com:8443/api/v4", "https://evil.invalid"]
        {
            assert!(s.base_url(gitlab, Some(refused)).is_err(), "{refused}");
        }
        assert!(
            s.base_url(calcom(), Some("https://cal.internal.invalid")).is_ok(),
            "a bare entry still serves a built-in"
        );
        // Databricks has no host of its own: only the allow-list's.
        let databricks = s.vendor("databricks").unwrap();
        assert!(databricks.official_hosts().is_empty());
        assert!(s.base_url(databricks, Some("https://dbc-1.cloud.databricks.com")).is_err());
        let s = settings("databricks=dbc-1.cloud.databricks.com");
        assert!(s.base_url(databricks, Some("https://dbc-1.cloud.databricks.com")).is_ok());
        let error = s.base_url(databricks, None).unwrap_err().to_string();
        assert!(error.contains("databricks has no default base URL"), "{error}");
    }

    #[test]
    fn a_vendor_entry_names_a_vendor_that_takes_a_base_url_tag() {
        use super::super::{ENV_ALLOWED_HOSTS, ENV_VENDORS, HostProblem, Settings};
        let refused = |entry: &str, vendors: &str| {
            let (entry, vendors) = (entry.to_owned(), vendors.to_owned());
            Settings::from_lookup(move |name| match name {
                ENV_ALLOWED_HOSTS => Some(entry.clone()),
                ENV_VENDORS => Some(vendors.clone()),
                _ => None,
            })
            .unwrap_err()
        };
        for entry in ["cal=cal.internal.invalid", "Calcom=cal.internal.invalid", "acme=acme.invalid"] {
            let error = refused(entry, "");
            assert!(
                matches!(&error, ConfigError::AllowedHost(HostProblem::UnknownVendor { .. })),
                "{entry}: {error}"
            );
            assert!(error.to_string().contains("calcom, ringg, projectdiscovery"), "{error}");
        }
        // A declared vendor's keys go to its declaration's base URL, never to a tag's.
        let declared = r#"{"acme": {"base_url": "https://api.acme.invalid",
            "auth": {"header": "Authorization", "prefix": "Bearer "},
            "rotate": {"method": "POST", "path": "/keys", "key": "/data/key"},
            "verify": {"method": "GET", "path": "/me", "refused": [401]}}}"#;
        assert!(matches!(
            refused("acme=acme.invalid", declared),
            ConfigError::AllowedHost(HostProblem::UnknownVendor { .. })
        ));
        for entry in [
            "=cal.internal.invalid",
            "calcom=",
            "calcom=:8080",
            "calcom=a=b",
            "calcom=[::1",
            // Another address and a port, to a reader: brackets say which.
            "calcom=2001:db8::1:8443",
            "2001:db8::1",
            "calcom=cal.internal.invalid\t:443",
        ] {
            assert!(refused(entry, "").to_string().contains(&format!("{entry:?}")), "{entry}");
        }
        assert!(matches!(refused("=h.invalid", ""), ConfigError::AllowedHost(HostProblem::NoVendor { .. })));
        // Credentials are never repeated, with a vendor before them too.
        let shown = refused("calcom=deploy:TOKEN@cal.internal.invalid", "").to_string();
        assert!(!shown.contains("TOKEN"), "{shown}");
    }
}
