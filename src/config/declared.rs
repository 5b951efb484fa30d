//! `ROTATION_VENDORS`: vendors the deployer declares in the function's environment (issue 22's
//! contract), parsed once into typed declarations. Every rule of the contract is checked here; a
//! declaration that breaks one stops the function from starting, naming the vendor and the field.
//! Nothing here repeats the text of a base URL with user information, or any value of the JSON
//! beyond the names of vendors and fields.

use std::collections::HashSet;
use std::fmt;
use std::sync::{Mutex, OnceLock};

use reqwest::Method;
use reqwest::header::{HeaderName, HeaderValue};
use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use super::parse_base_url;
use crate::timing::ExpiryFormat;
use crate::vendors::{self, Declared, EXPIRY, KEY_ID_PLACEHOLDER, Overlap, Rotate, Verify};

/// The environment variable that declares vendors.
pub const ENV_VENDORS: &str = "ROTATION_VENDORS";

/// How long a replaced key stays live when `grace_seconds` is not given.
pub const DEFAULT_GRACE_SECONDS: u64 = 3600;
/// The longest grace a declaration may ask for: a year (a rotation runs at least that often).
pub const MAX_GRACE_SECONDS: u64 = 366 * 24 * 3600;
/// The longest `max_lifetime` a declaration may give: ten years.
pub const MAX_LIFETIME_SECONDS: u64 = 10 * 366 * 24 * 3600;

/// Why `ROTATION_VENDORS` is refused: the vendor and the field, and the rule broken.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DeclarationError {
    #[error("{ENV_VENDORS} is not JSON ({0}); it is a JSON object of vendor declarations")]
    NotJson(String),

    #[error("{ENV_VENDORS} is not a JSON object; it is an object whose keys are vendor names")]
    NotAnObject,

    #[error(
        "{ENV_VENDORS}: the vendor name {name:?} {why}; a name is 1 to 32 lower-case letters, digits and '-', and not a built-in vendor's ({})",
        vendors::names()
    )]
    Name { name: String, why: &'static str },

    #[error("{ENV_VENDORS}: vendor {vendor:?}, field {field:?}: {why}")]
    Field { vendor: String, field: String, why: String },

    /// A catalog entry compiled into the binary that does not parse: a defect of the build, said
    /// rather than panicked.
    #[error("the catalog's entry {name:?} is broken ({why}); this build is faulty, use another")]
    Catalog { name: String, why: String },

    /// JSON keeps the last of two members with one name: the declaration would not be what it
    /// says.
    #[error(
        "{ENV_VENDORS}: the vendor {name:?} is declared twice, and JSON would keep only the last; declare it once"
    )]
    VendorTwice { name: String },
}

/// Said of a field named twice in one object.
const NAMED_TWICE: &str = "is named twice in one object, and JSON would keep only the last; name it once";

/// The catalog's vendors (`vendors/catalog/`), each parsed once per process, as declarations are.
pub fn catalog() -> Result<&'static [&'static Declared], DeclarationError> {
    static CATALOG: OnceLock<Result<Vec<&'static Declared>, DeclarationError>> = OnceLock::new();
    let parsed = CATALOG.get_or_init(|| {
        vendors::CATALOG
            .iter()
            .map(|(name, _)| {
                let entry = catalog_entry(name)?;
                declaration(name, &entry, true)
                    .map(vendors::intern)
                    .map_err(|e| DeclarationError::Catalog { name: (*name).to_owned(), why: e.to_string() })
            })
            .collect()
    });
    parsed.as_deref().map_err(Clone::clone)
}

/// The catalog's entry `name` as JSON.
fn catalog_entry(name: &str) -> Result<Value, DeclarationError> {
    let broken = |why: String| DeclarationError::Catalog { name: name.to_owned(), why };
    let (_, text) =
        vendors::CATALOG.iter().find(|(known, _)| *known == name).ok_or_else(|| broken("absent".into()))?;
    serde_json::from_str(text).map_err(|e| broken(e.to_string()))
}

/// RFC 7386: `patch` applied to `target`. An object's members are merged, a `null` removes one,
/// anything else replaces the value.
pub fn merge_patch(target: &Value, patch: &Value) -> Value {
    let Value::Object(changes) = patch else { return patch.clone() };
    let mut merged = match target {
        Value::Object(fields) => fields.clone(),
        _ => Map::new(),
    };
    for (name, change) in changes {
        if change.is_null() {
            merged.remove(name);
        } else {
            let patched = merge_patch(merged.get(name).unwrap_or(&Value::Null), change);
            merged.insert(name.clone(), patched);
        }
    }
    Value::Object(merged)
}

/// The declarations in `text` (the variable's value), in the order written. One named after a
/// catalog vendor is a JSON Merge Patch (RFC 7386) of the catalog's entry, checked as a whole.
pub fn parse_declarations(text: &str) -> Result<Vec<Declared>, DeclarationError> {
    // serde_json's message names a line and a column, never the text.
    let value: Value = serde_json::from_str(text).map_err(|e| DeclarationError::NotJson(e.to_string()))?;
    let Value::Object(vendors) = value else { return Err(DeclarationError::NotAnObject) };
    // A name given twice is refused before anything else: the parse above kept only the last.
    if let Ok(NamedTwice(Some(path))) = serde_json::from_str::<NamedTwice>(text) {
        let mut path = path.into_iter().map(|name| name.chars().take(40).collect::<String>());
        let vendor = path.next().unwrap_or_default();
        let field: Vec<String> = path.collect();
        return Err(match field.is_empty() {
            true => DeclarationError::VendorTwice { name: vendor },
            false => DeclarationError::Field { vendor, field: field.join("."), why: NAMED_TWICE.into() },
        });
    }
    vendors
        .iter()
        .map(|(name, body)| {
            if vendors::CATALOG.iter().any(|(known, _)| known == name) {
                let patched = merge_patch(&catalog_entry(name)?, body);
                return declaration(name, &patched, true);
            }
            declaration(name, body, false)
        })
        .collect()
}

/// One vendor's declaration (or catalog entry), every rule checked.
fn declaration(name: &str, body: &Value, catalog: bool) -> Result<Declared, DeclarationError> {
    check_name(name)?;
    let at = Fields { vendor: name, prefix: String::new() };
    let known = ["base_url", "auth", "headers", "rotate", "verify", "overlap", "docs"];
    let body = at.object(body, "", &known)?;
    // The problem is said in the contract's words; the text itself is never repeated. A catalog
    // vendor may have no default: each secret (or an override) names its base URL.
    let base_url = match (at.optional_str(body, "base_url")?, catalog) {
        (Some(text), _) => {
            Some(parse_base_url(text).map_err(|problem| at.fail("base_url", problem.to_string()))?)
        }
        (None, true) => None,
        (None, false) => return Err(at.fail("base_url", "is missing".into())),
    };
    let docs = at.optional_str(body, "docs")?.map(str::to_owned);
    if docs.as_deref().is_some_and(|docs| !docs.starts_with("https://") || docs.contains(char::is_whitespace))
    {
        return Err(at.fail("docs", "must be an https:// address".into()));
    }

    let auth = at.required(body, "auth")?;
    let auth_at = at.below("auth");
    let auth = auth_at.object(auth, "", &["header", "prefix"])?;
    let header = header(&auth_at, auth_at.required_str(auth, "header")?)?;
    let prefix = auth_at.optional_str(auth, "prefix")?.unwrap_or_default().to_owned();
    if !prefix.bytes().all(|b| (0x20..=0x7e).contains(&b)) {
        return Err(auth_at.fail("prefix", "must be printable ASCII".into()));
    }
    let headers = match body.get("headers") {
        None => Vec::new(),
        Some(headers) => static_headers(&at.below("headers"), headers, &header)?,
    };

    let rotate_at = at.below("rotate");
    let known = ["method", "path", "body", "key", "query", "max_lifetime"];
    let rotate = rotate_at.object(at.required(body, "rotate")?, "", &known)?;
    if let Some(body) = rotate.get("body") {
        computed_values(&rotate_at.below("body"), body)?;
    }
    let max_lifetime = match rotate.get("max_lifetime") {
        None => None,
        Some(seconds) => {
            Some(seconds.as_u64().filter(|s| (1..=MAX_LIFETIME_SECONDS).contains(s)).ok_or_else(|| {
                rotate_at.fail(
                    "max_lifetime",
                    format!("must be a whole number of seconds, 1 to {MAX_LIFETIME_SECONDS} (ten years)"),
                )
            })?)
        }
    };
    let rotate = Rotate {
        method: method(&rotate_at, rotate, &[Method::POST, Method::PUT, Method::PATCH])?,
        path: {
            // Cloudflare's roll names the presented token: `{key_id}`, read from the verify answer.
            let text = rotate_at.required_str(rotate, "path")?;
            path(&rotate_at, text, text.contains(KEY_ID_PLACEHOLDER).then_some(KEY_ID_PLACEHOLDER))?
        },
        body: rotate.get("body").cloned(),
        key: pointer(&rotate_at, "key", rotate_at.required_str(rotate, "key")?)?,
        query: query(&rotate_at, rotate)?,
        max_lifetime,
    };

    let verify_at = at.below("verify");
    let verify = verify_at.object(
        at.required(body, "verify")?,
        "",
        &["method", "path", "refused", "vouch", "query", "key_id"],
    )?;
    let key_id = verify_at
        .optional_str(verify, "key_id")?
        .map(|text| pointer(&verify_at, "key_id", text))
        .transpose()?;
    let refused = match verify.get("refused") {
        None => vec![401],
        Some(list) => statuses(&verify_at, list)?,
    };
    let vouch = verify_at
        .optional_str(verify, "vouch")?
        .map(|text| pointer(&verify_at, "vouch", text))
        .transpose()?;
    let verify_method = method(&verify_at, verify, &[Method::GET, Method::HEAD])?;
    for (field, pointer) in [("vouch", &vouch), ("key_id", &key_id)] {
        if verify_method == Method::HEAD && pointer.is_some() {
            return Err(
                verify_at.fail(field, "cannot be read from a HEAD answer, which has no body; use GET".into())
            );
        }
    }
    let verify = Verify {
        method: verify_method,
        path: path(&verify_at, verify_at.required_str(verify, "path")?, None)?,
        refused,
        vouch,
        query: query(&verify_at, verify)?,
        key_id,
    };

    if rotate.path.contains(KEY_ID_PLACEHOLDER) && verify.key_id.is_none() {
        return Err(rotate_at.fail(
            "path",
            format!("names {KEY_ID_PLACEHOLDER}, which needs verify.key_id: where the verify answer names the presented key"),
        ));
    }
    let overlap = match body.get("overlap") {
        None => None,
        Some(overlap) => Some(self::overlap(&at.below("overlap"), overlap)?),
    };
    let official_hosts = match (&base_url, catalog) {
        (Some(url), true) => own_host(url),
        _ => &[],
    };
    Ok(Declared {
        name: name.to_owned(),
        base_url,
        header,
        prefix,
        headers,
        rotate,
        verify,
        overlap,
        docs,
        catalog,
        official_hosts,
    })
}

/// A catalog vendor's own host, as a `rotation:base-url` tag may name it (https, default port):
/// one slice per host for the life of the process, however often the environment is read.
fn own_host(url: &reqwest::Url) -> &'static [&'static str] {
    static HOSTS: Mutex<Vec<&'static [&'static str]>> = Mutex::new(Vec::new());
    let Some(host) = url.host_str().filter(|_| url.scheme() == "https" && url.port().is_none()) else {
        return &[];
    };
    let host = host.to_ascii_lowercase();
    let mut hosts = HOSTS.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(known) = hosts.iter().find(|known| known[0] == host) {
        return known;
    }
    let leaked: &'static [&'static str] =
        Box::leak(vec![&*Box::leak(host.into_boxed_str())].into_boxed_slice());
    hosts.push(leaked);
    leaked
}

/// Non-secret headers sent on every call: names as the key's header is checked, and not the key's
/// own header; values printable ASCII.
fn static_headers(
    at: &Fields<'_>,
    headers: &Value,
    key_header: &HeaderName,
) -> Result<Vec<(HeaderName, HeaderValue)>, DeclarationError> {
    let headers = headers.as_object().ok_or_else(|| at.fail("", "must be a JSON object".into()))?;
    headers
        .iter()
        .map(|(name, value)| {
            let named = header(at, name)?;
            if named == *key_header {
                return Err(at.fail(name, "is the header the key goes into".into()));
            }
            let value = value
                .as_str()
                .filter(|text| !text.is_empty() && text.bytes().all(|b| (0x20..=0x7e).contains(&b)))
                .and_then(|text| HeaderValue::from_str(text).ok())
                .ok_or_else(|| at.fail(name, "must be a non-empty string of printable ASCII".into()))?;
            Ok((named, value))
        })
        .collect()
}

/// A call's static query parameters: names and values of URL-safe characters only, so that one
/// is sent exactly as written and never holds the key.
fn query(at: &Fields<'_>, call: &Map<String, Value>) -> Result<Vec<(String, String)>, DeclarationError> {
    let Some(query) = call.get("query") else { return Ok(Vec::new()) };
    let safe = |text: &str, extra: &[u8]| {
        !text.is_empty()
            && text.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b) || extra.contains(&b))
    };
    let wrong = || {
        at.fail(
            "query",
            "must be an object of names to strings, both of letters, digits and -._~ (values also : and ,)"
                .into(),
        )
    };
    let query = query.as_object().ok_or_else(wrong)?;
    query
        .iter()
        .map(|(name, value)| match value.as_str() {
            Some(text) if safe(name, b"") && safe(text, b":,") => Ok((name.clone(), text.to_owned())),
            _ => Err(wrong()),
        })
        .collect()
}

/// The computed values a rotate body may hold: `{"$expiry": FORMAT}`, alone in its object. Any
/// other member whose name starts with `$` is refused (a misspelt one would be sent as written).
fn computed_values(at: &Fields<'_>, body: &Value) -> Result<(), DeclarationError> {
    match body {
        Value::Object(fields) => {
            if let Some(format) = fields.get(EXPIRY) {
                let names: Vec<&str> = ExpiryFormat::NAMES.iter().map(|(name, _)| *name).collect();
                let known = format.as_str().and_then(ExpiryFormat::parse).is_some();
                if fields.len() != 1 || !known {
                    return Err(at.fail(
                        EXPIRY,
                        format!("must be alone in its object, and one of {}", names.join(", ")),
                    ));
                }
                return Ok(());
            }
            if let Some(unknown) = fields.keys().find(|name| name.starts_with('$')) {
                let unknown: String = unknown.chars().take(40).collect();
                return Err(
                    at.fail(&unknown, format!("is not a computed value (the one there is: {EXPIRY})"))
                );
            }
            fields.iter().try_for_each(|(name, field)| computed_values(&at.below(name), field))
        }
        Value::Array(items) => items.iter().try_for_each(|item| computed_values(at, item)),
        // Sent as written: a placeholder here would reach the vendor as its own text.
        Value::String(text) if text.contains(KEY_ID_PLACEHOLDER) => Err(at.fail(
            "",
            format!("holds {KEY_ID_PLACEHOLDER}, which is replaced only in a revoke's path or body and a rotate's path"),
        )),
        _ => Ok(()),
    }
}

/// A revoke body holds no computed value (they are the rotate body's), at any depth.
fn no_computed_values(at: &Fields<'_>, body: &Value) -> Result<(), DeclarationError> {
    match body {
        Value::Object(fields) => {
            if let Some(name) = fields.keys().find(|name| name.starts_with('$')) {
                let name: String = name.chars().take(40).collect();
                return Err(
                    at.fail(&name, "is not allowed here: computed values go in the rotate body only".into())
                );
            }
            fields.values().try_for_each(|field| no_computed_values(at, field))
        }
        Value::Array(items) => items.iter().try_for_each(|item| no_computed_values(at, item)),
        _ => Ok(()),
    }
}

/// How many strings of `body` are exactly `{key_id}`; `Err` for one that holds a brace otherwise.
fn key_id_strings(at: &Fields<'_>, body: &Value) -> Result<usize, DeclarationError> {
    match body {
        Value::String(text) if text == KEY_ID_PLACEHOLDER => Ok(1),
        Value::String(text) if text.contains(['{', '}']) => Err(at.fail(
            "body",
            format!(
                "holds a placeholder inside a string: {KEY_ID_PLACEHOLDER} may only be a whole string value"
            ),
        )),
        Value::Array(items) => items.iter().map(|item| key_id_strings(at, item)).sum(),
        Value::Object(fields) => fields.values().map(|field| key_id_strings(at, field)).sum(),
        _ => Ok(0),
    }
}

fn overlap(at: &Fields<'_>, overlap: &Value) -> Result<Overlap, DeclarationError> {
    let overlap = at.object(overlap, "", &["key_id", "revoke", "grace_seconds"])?;
    let key_id = pointer(at, "key_id", at.required_str(overlap, "key_id")?)?;
    let revoke_at = at.below("revoke");
    let revoke =
        revoke_at.object(at.required(overlap, "revoke")?, "", &["method", "path", "body", "query"])?;
    let revoke_method =
        method(&revoke_at, revoke, &[Method::DELETE, Method::POST, Method::PUT, Method::PATCH])?;
    let revoke_body = revoke.get("body").cloned();
    if let Some(body) = &revoke_body {
        no_computed_values(&revoke_at.below("body"), body)?;
    }
    let in_body = revoke_body.as_ref().map(|body| key_id_strings(&revoke_at, body)).transpose()?.unwrap_or(0);
    // The id goes in the path, or (Databricks: `POST /token/delete {"token_id": …}`) in the body.
    let placeholder = Some(KEY_ID_PLACEHOLDER).filter(|_| in_body == 0);
    let revoke_path = path(&revoke_at, revoke_at.required_str(revoke, "path")?, placeholder)?;
    let revoke_query = query(&revoke_at, revoke)?;
    let grace_seconds = match overlap.get("grace_seconds") {
        None => DEFAULT_GRACE_SECONDS,
        Some(seconds) => seconds.as_u64().filter(|s| *s <= MAX_GRACE_SECONDS).ok_or_else(|| {
            at.fail(
                "grace_seconds",
                format!("must be a whole number of seconds, 0 to {MAX_GRACE_SECONDS} (a year)"),
            )
        })?,
    };
    Ok(Overlap { key_id, revoke_method, revoke_path, revoke_body, revoke_query, grace_seconds })
}

fn check_name(name: &str) -> Result<(), DeclarationError> {
    let refuse = |why| Err(DeclarationError::Name { name: name.chars().take(40).collect(), why });
    if name.is_empty() || name.len() > 32 {
        return refuse("is not 1 to 32 characters long");
    }
    if !name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') {
        return refuse("holds a character other than a-z, 0-9 and '-'");
    }
    if vendors::lookup(name).is_some() {
        return refuse("is a built-in vendor's");
    }
    Ok(())
}

/// Headers that carry the request's framing, routing or content, or that intermediaries (proxies,
/// load balancers, WAFs) log, rewrite or strip: never a key. `Content-Type` would be overwritten
/// by a JSON body (and logged as the content type); `User-Agent` is set by this client.
const FORBIDDEN_HEADERS: &[&str] = &[
    "host",
    "cookie",
    "set-cookie",
    "content-length",
    "content-type",
    "transfer-encoding",
    "connection",
    "user-agent",
    "referer",
    "forwarded",
    "via",
    "accept-encoding",
    "te",
    "upgrade",
    "expect",
    "keep-alive",
];
/// Header-name prefixes refused the same way: `X-Forwarded-For`, `-Host`, `-Proto`…, and the
/// proxy's own (`Proxy-Authorization`, `Proxy-Connection`…).
const FORBIDDEN_HEADER_PREFIXES: &[&str] = &["x-forwarded-", "proxy-"];

fn header(at: &Fields<'_>, name: &str) -> Result<HeaderName, DeclarationError> {
    // RFC 9110 token: visible ASCII but delimiters.
    let token = !name.is_empty()
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    if !token {
        return Err(at.fail("header", "is not an HTTP header name (an RFC 9110 token)".into()));
    }
    let lower = name.to_ascii_lowercase();
    if FORBIDDEN_HEADERS.contains(&lower.as_str())
        || FORBIDDEN_HEADER_PREFIXES.iter().any(|prefix| lower.starts_with(prefix))
    {
        return Err(at.fail("header", format!("may not be {name}: the key goes into a header of its own")));
    }
    HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| at.fail("header", "is not an HTTP header name".into()))
}

fn method(
    at: &Fields<'_>,
    object: &Map<String, Value>,
    allowed: &[Method],
) -> Result<Method, DeclarationError> {
    let text = at.required_str(object, "method")?;
    let names: Vec<&str> = allowed.iter().map(Method::as_str).collect();
    allowed
        .iter()
        .find(|method| method.as_str() == text)
        .cloned()
        .ok_or_else(|| at.fail("method", format!("must be one of {}", names.join(", "))))
}

/// A path below the base URL: it starts with `/`, holds no query, fragment or white space, and no
/// placeholder but `placeholder` (as one whole segment, when given): the key goes only into the
/// auth header, never into a path.
fn path(at: &Fields<'_>, text: &str, placeholder: Option<&str>) -> Result<String, DeclarationError> {
    if !text.starts_with('/') {
        return Err(at.fail("path", "must start with '/'".into()));
    }
    if text.contains(['?', '#']) || text.chars().any(char::is_whitespace) {
        return Err(at.fail("path", "may hold no query, fragment or white space".into()));
    }
    let segments: Vec<&str> = text.split('/').collect();
    for segment in &segments {
        if segment.contains(['{', '}']) && Some(*segment) != placeholder {
            let allowed = placeholder.map_or("none".to_owned(), |p| format!("{p} as a whole segment"));
            return Err(at.fail(
                "path",
                format!("holds a placeholder ({allowed} is allowed): the key goes only into the auth header"),
            ));
        }
    }
    if let Some(placeholder) = placeholder
        && segments.iter().filter(|segment| **segment == placeholder).count() != 1
    {
        return Err(at.fail("path", format!("must hold {placeholder} once, as one whole segment")));
    }
    Ok(text.to_owned())
}

/// An RFC 6901 JSON pointer; a JSONPath (`$.data.key`) is answered with the form expected.
fn pointer(at: &Fields<'_>, field: &str, text: &str) -> Result<String, DeclarationError> {
    if let Some(rest) = text.strip_prefix("$.").or_else(|| text.strip_prefix('$')) {
        let expected = format!("/{}", rest.replace('.', "/"));
        return Err(at.fail(
            field,
            format!("is a JSONPath; write an RFC 6901 JSON pointer instead, such as {expected:?}"),
        ));
    }
    if !text.starts_with('/') {
        return Err(at.fail(
            field,
            "must be an RFC 6901 JSON pointer starting with '/', such as \"/data/key\"".into(),
        ));
    }
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '~' && !matches!(chars.next(), Some('0' | '1')) {
            return Err(at.fail(field, "holds a '~' that is not ~0 or ~1 (RFC 6901)".into()));
        }
    }
    Ok(text.to_owned())
}

/// The statuses that mean "this key is refused": only a 4xx says anything about the key. A 408 or
/// a 429 is about the request, and a 5xx, a 3xx or a 2xx about the vendor: counting one as a
/// refusal would take a vendor's blip for a dead key (and "confirm" a revoke that did not take).
fn statuses(at: &Fields<'_>, list: &Value) -> Result<Vec<u16>, DeclarationError> {
    let wrong = || {
        at.fail(
            "refused",
            "must be a non-empty list of 4xx statuses other than 408 and 429 (a 5xx, a timeout or a rate limit says nothing about the key)".into(),
        )
    };
    let list = list.as_array().filter(|list| !list.is_empty()).ok_or_else(wrong)?;
    list.iter()
        .map(|status| {
            let refusal = |s: &u64| (400..=499).contains(s) && ![408, 429].contains(s);
            status.as_u64().filter(refusal).map(|s| s as u16).ok_or_else(wrong)
        })
        .collect()
}

/// The first member of any object, at any depth, whose name an earlier member of the same object
/// has: the names on the way to it (an array element by its index). Only names are kept, never a
/// value.
struct NamedTwice(Option<Vec<String>>);

impl<'de> Deserialize<'de> for NamedTwice {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NamedTwiceVisitor)
    }
}

struct NamedTwiceVisitor;

impl<'de> Visitor<'de> for NamedTwiceVisitor {
    type Value = NamedTwice;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JSON")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<NamedTwice, A::Error> {
        let (mut seen, mut found) = (HashSet::new(), None);
        while let Some(name) = map.next_key::<String>()? {
            let NamedTwice(below) = map.next_value()?;
            if found.is_some() {
                continue;
            }
            found = match below {
                _ if seen.contains(&name) => Some(vec![name.clone()]),
                Some(path) => Some([vec![name.clone()], path].concat()),
                None => None,
            };
            seen.insert(name);
        }
        Ok(NamedTwice(found))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<NamedTwice, A::Error> {
        let (mut index, mut found) = (0usize, None);
        while let Some(NamedTwice(below)) = seq.next_element()? {
            if found.is_none() {
                found = below.map(|path| [vec![index.to_string()], path].concat());
            }
            index += 1;
        }
        Ok(NamedTwice(found))
    }

    fn visit_bool<E>(self, _: bool) -> Result<NamedTwice, E> {
        Ok(NamedTwice(None))
    }
    fn visit_i64<E>(self, _: i64) -> Result<NamedTwice, E> {
        Ok(NamedTwice(None))
    }
    fn visit_u64<E>(self, _: u64) -> Result<NamedTwice, E> {
        Ok(NamedTwice(None))
    }
    fn visit_f64<E>(self, _: f64) -> Result<NamedTwice, E> {
        Ok(NamedTwice(None))
    }
    fn visit_str<E>(self, _: &str) -> Result<NamedTwice, E> {
        Ok(NamedTwice(None))
    }
    fn visit_unit<E>(self) -> Result<NamedTwice, E> {
        Ok(NamedTwice(None))
    }
}

/// Where in a declaration a check is: the vendor, and the path of the object being read.
struct Fields<'a> {
    vendor: &'a str,
    prefix: String,
}

impl<'a> Fields<'a> {
    fn below(&self, field: &str) -> Fields<'a> {
        Fields { vendor: self.vendor, prefix: self.name(field) }
    }

    fn name(&self, field: &str) -> String {
        if self.prefix.is_empty() { field.to_owned() } else { format!("{}.{field}", self.prefix) }
    }

    fn fail(&self, field: &str, why: String) -> DeclarationError {
        DeclarationError::Field { vendor: self.vendor.to_owned(), field: self.name(field), why }
    }

    /// `value` as an object holding only `known` fields.
    fn object<'v>(
        &self,
        value: &'v Value,
        field: &str,
        known: &[&str],
    ) -> Result<&'v Map<String, Value>, DeclarationError> {
        let object = value.as_object().ok_or_else(|| self.fail(field, "must be a JSON object".into()))?;
        if let Some(unknown) = object.keys().find(|key| !known.contains(&key.as_str())) {
            let unknown: String = unknown.chars().take(40).collect();
            return Err(
                self.fail(&unknown, format!("is not a field of this object (known: {})", known.join(", ")))
            );
        }
        Ok(object)
    }

    fn required<'v>(
        &self,
        object: &'v Map<String, Value>,
        field: &str,
    ) -> Result<&'v Value, DeclarationError> {
        object.get(field).ok_or_else(|| self.fail(field, "is missing".into()))
    }

    fn required_str<'v>(
        &self,
        object: &'v Map<String, Value>,
        field: &str,
    ) -> Result<&'v str, DeclarationError> {
        self.optional_str(object, field)?.ok_or_else(|| self.fail(field, "is missing".into()))
    }

    fn optional_str<'v>(
        &self,
        object: &'v Map<String, Value>,
        field: &str,
    ) -> Result<Option<&'v str>, DeclarationError> {
        match object.get(field) {
            None => Ok(None),
            Some(Value::String(text)) => Ok(Some(text)),
            Some(_) => Err(self.fail(field, "must be a string".into())),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// The contract's example.
    fn acme() -> Value {
        json!({
            "base_url": "https://api.acme.example/v1",
            "auth": {"header": "Authorization", "prefix": "Bearer "},
            "rotate": {"method": "POST", "path": "/keys", "body": {"label": "rotated"}, "key": "/data/key"},
            "verify": {"method": "GET", "path": "/me", "refused": [401], "vouch": "/account/id"},
            "overlap": {"key_id": "/data/id", "revoke": {"method": "DELETE", "path": "/keys/{key_id}"}, "grace_seconds": 3600}
        })
    }

    fn parse(vendors: Value) -> Result<Vec<Declared>, DeclarationError> {
        parse_declarations(&vendors.to_string())
    }

    /// `acme` with `change` applied at `pointer` (`None` removes the field).
    fn acme_with(pointer: &str, change: Option<Value>) -> Result<Vec<Declared>, DeclarationError> {
        let mut vendor = acme();
        let (parent, field) = pointer.rsplit_once('/').unwrap();
        let parent = vendor.pointer_mut(parent).unwrap().as_object_mut().unwrap();
        match change {
            Some(value) => parent.insert(field.to_owned(), value),
            None => parent.remove(field),
        };
        parse(json!({ "acme": vendor }))
    }

    fn refusal(result: Result<Vec<Declared>, DeclarationError>) -> String {
        result.unwrap_err().to_string()
    }

    #[test]
    fn the_contracts_example_and_the_built_ins_written_as_declarations_parse() {
        let declared = parse(json!({ "acme": acme() })).unwrap();
        let acme = &declared[0];
        assert_eq!(
            (acme.name.as_str(), acme.base_url.as_ref().unwrap().as_str()),
            ("acme", "https://api.acme.example/v1")
        );
        assert_eq!((acme.header.as_str(), acme.prefix.as_str()), ("authorization", "Bearer "));
        assert_eq!((acme.rotate.method.clone(), acme.rotate.key.as_str()), (Method::POST, "/data/key"));
        assert_eq!(acme.rotate.body, Some(json!({"label": "rotated"})));
        assert_eq!(
            (acme.verify.refused.clone(), acme.verify.vouch.as_deref()),
            (vec![401], Some("/account/id"))
        );
        let overlap = acme.overlap.as_ref().unwrap();
        assert_eq!((overlap.revoke_path.as_str(), overlap.grace_seconds), ("/keys/{key_id}", 3600));
        // Ringg and ProjectDiscovery under other names, single-phase; the defaults filled in.
        let built_ins = json!({
            "ringg-declared": {
                "base_url": "https://prod-api.ringg.ai/ca/api/v0",
                "auth": {"header": "X-API-KEY"},
                "rotate": {"method": "PATCH", "path": "/workspace/api-key", "key": "/new_api_key"},
                "verify": {"method": "GET", "path": "/workspace"}
            },
            "pd-declared": {
                "base_url": "https://api.projectdiscovery.io",
                "auth": {"header": "X-API-Key"},
                "rotate": {"method": "POST", "path": "/v1/user/apikey/rotate", "key": "/data/key"},
                "verify": {"method": "GET", "path": "/v1/user", "vouch": "/email"}
            }
        });
        let declared = parse(built_ins).unwrap();
        assert_eq!(declared.len(), 2);
        assert!(declared.iter().all(|vendor| vendor.overlap.is_none() && vendor.prefix.is_empty()));
        assert_eq!(declared[0].verify.refused, vec![401]);
        assert!(parse(json!({})).unwrap().is_empty());
    }

    #[test]
    fn every_rule_of_the_contract_refuses_naming_the_vendor_and_the_field() {
        for (pointer, change, field, words) in [
            ("/base_url", Some(json!("http://api.acme.example")), "base_url", "loopback"),
            ("/base_url", Some(json!("https://api.acme.example/?x=1")), "base_url", "query"),
            ("/base_url", None, "base_url", "missing"),
            ("/auth/header", Some(json!("Cookie")), "auth.header", "header of its own"),
            ("/auth/header", Some(json!("Host")), "auth.header", "header of its own"),
            ("/auth/header", Some(json!("content-length")), "auth.header", "header of its own"),
            ("/auth/header", Some(json!("Transfer-Encoding")), "auth.header", "header of its own"),
            ("/auth/header", Some(json!("Connection")), "auth.header", "header of its own"),
            ("/auth/header", Some(json!("")), "auth.header", "RFC 9110"),
            ("/base_url", Some(json!("https://api.acme.example/#frag")), "base_url", "fragment"),
            ("/base_url", Some(json!("ftp://api.acme.example")), "base_url", "scheme"),
            ("/base_url", Some(json!(" https://AbC+dE/fG=@api.acme.example")), "base_url", "spaces"),
            ("/base_url", Some(json!("ht\ttps://api.acme.example")), "base_url", "tabs"),
            ("/verify/path", Some(json!("/me?key=x")), "verify.path", "query"),
            ("/verify/vouch", Some(json!("$.account.id")), "verify.vouch", "\"/account/id\""),
            ("/overlap/key_id", Some(json!("$.data.id")), "overlap.key_id", "\"/data/id\""),
            ("/overlap/revoke/path", Some(json!("/keys/{key_id}/{key_id}")), "overlap.revoke.path", "once"),
            ("/overlap/revoke/path", Some(json!("/keys/{key}")), "overlap.revoke.path", "placeholder"),
            ("/auth/header", Some(json!("X Key")), "auth.header", "RFC 9110"),
            ("/auth/prefix", Some(json!("Bearer\u{e9} ")), "auth.prefix", "printable ASCII"),
            ("/auth/query", Some(json!("key")), "auth.query", "not a field"),
            ("/rotate/method", Some(json!("GET")), "rotate.method", "POST, PUT, PATCH"),
            ("/rotate/path", Some(json!("keys")), "rotate.path", "start with '/'"),
            ("/rotate/path", Some(json!("/keys?key=x")), "rotate.path", "query"),
            ("/rotate/path", Some(json!("/keys/{key}")), "rotate.path", "only into the auth header"),
            ("/rotate/key", Some(json!("$.data.key")), "rotate.key", "\"/data/key\""),
            ("/rotate/key", Some(json!("data")), "rotate.key", "RFC 6901"),
            ("/rotate/key", Some(json!("/a~2b")), "rotate.key", "~0 or ~1"),
            ("/verify/method", Some(json!("POST")), "verify.method", "GET, HEAD"),
            ("/verify/refused", Some(json!([])), "verify.refused", "non-empty"),
            ("/verify/refused", Some(json!([700])), "verify.refused", "4xx statuses"),
            ("/verify/refused", Some(json!([401, 503])), "verify.refused", "says nothing about the key"),
            ("/verify/refused", Some(json!([408])), "verify.refused", "other than 408 and 429"),
            ("/verify/refused", Some(json!([429])), "verify.refused", "other than 408 and 429"),
            ("/verify/refused", Some(json!([200])), "verify.refused", "4xx statuses"),
            ("/verify/refused", Some(json!([302])), "verify.refused", "4xx statuses"),
            ("/auth/header", Some(json!("Content-Type")), "auth.header", "header of its own"),
            ("/auth/header", Some(json!("user-agent")), "auth.header", "header of its own"),
            ("/auth/header", Some(json!("X-Forwarded-For")), "auth.header", "header of its own"),
            ("/auth/header", Some(json!("x-forwarded-host")), "auth.header", "header of its own"),
            ("/auth/header", Some(json!("Forwarded")), "auth.header", "header of its own"),
            ("/auth/header", Some(json!("Via")), "auth.header", "header of its own"),
            ("/auth/header", Some(json!("Referer")), "auth.header", "header of its own"),
            ("/auth/header", Some(json!("Accept-Encoding")), "auth.header", "header of its own"),
            ("/auth/header", Some(json!("TE")), "auth.header", "header of its own"),
            ("/auth/header", Some(json!("Upgrade")), "auth.header", "header of its own"),
            ("/auth/header", Some(json!("Expect")), "auth.header", "header of its own"),
            ("/auth/header", Some(json!("Keep-Alive")), "auth.header", "header of its own"),
            ("/auth/header", Some(json!("Proxy-Authorization")), "auth.header", "header of its own"),
            ("/auth/header", Some(json!("Set-Cookie")), "auth.header", "header of its own"),
            ("/verify/vouch", Some(json!(3)), "verify.vouch", "string"),
            ("/verify/method", Some(json!("HEAD")), "verify.vouch", "HEAD answer"),
            ("/overlap/revoke/path", Some(json!("/keys")), "overlap.revoke.path", "{key_id} once"),
            ("/overlap/revoke/path", Some(json!("/keys/id-{key_id}")), "overlap.revoke.path", "placeholder"),
            ("/overlap/revoke/method", Some(json!("GET")), "overlap.revoke.method", "DELETE"),
            ("/overlap/grace_seconds", Some(json!(-1)), "overlap.grace_seconds", "whole number"),
            ("/overlap/grace_seconds", Some(json!(u64::MAX)), "overlap.grace_seconds", "a year"),
            ("/overlap/key_id", None, "overlap.key_id", "missing"),
            ("/extra", Some(json!(1)), "extra", "not a field"),
        ] {
            let refused = refusal(acme_with(pointer, change.clone()));
            assert!(
                refused.starts_with(&format!("{ENV_VENDORS}: vendor \"acme\", field \"{field}\": "))
                    && refused.contains(words),
                "{pointer} {change:?}: {refused}"
            );
        }
    }

    /// JSON keeps the last of two members with one name, so a vendor or a field named twice would
    /// silently be the last one written: refused, naming where, never a value.
    #[test]
    fn a_vendor_or_a_field_named_twice_is_refused() {
        let acme = acme().to_string();
        let twice = format!(r#"{{"acme": {acme}, "other": {acme}, "acme": {acme}}}"#);
        assert_eq!(
            parse_declarations(&twice).unwrap_err(),
            DeclarationError::VendorTwice { name: "acme".into() }
        );
        let header =
            acme.replacen(r#""header":"Authorization""#, r#""header":"X-Key","header":"Authorization""#, 1);
        assert_ne!(header, acme, "the test edits the header");
        let refused = refusal(parse_declarations(&format!(r#"{{"acme": {header}}}"#)));
        assert!(refused.contains(r#"vendor "acme", field "auth.header": is named twice"#), "{refused}");
        assert!(!refused.contains("X-Key"), "{refused}");
        // Inside the rotate body too, and inside a list.
        let body = acme.replacen(r#""body":{"label":"rotated"}"#, r#""body":{"a":[1,{"b":1,"b":2}]}"#, 1);
        assert_ne!(body, acme);
        let refused = refusal(parse_declarations(&format!(r#"{{"acme": {body}}}"#)));
        assert!(refused.contains(r#"field "rotate.body.a.1.b": is named twice"#), "{refused}");
        // The same name in two different objects is fine.
        assert!(parse_declarations(&format!(r#"{{"acme": {acme}, "acme-2": {acme}}}"#)).is_ok());
    }

    #[test]
    fn headers_of_a_vendors_own_are_accepted() {
        for header in ["Authorization", "X-API-Key", "PRIVATE-TOKEN", "X-Forwarded", "Proxied-Key", "Api-Key"]
        {
            assert!(acme_with("/auth/header", Some(json!(header))).is_ok(), "{header}");
        }
    }

    #[test]
    fn names_json_and_credentials() {
        for name in ["", "Acme", "acme_1", "a".repeat(33).as_str(), "calcom", "ringg"] {
            let refused = refusal(parse(json!({ name: acme() })));
            assert!(refused.contains("vendor name"), "{name}: {refused}");
        }
        assert!(parse(json!({ "acme-2": acme() })).is_ok());
        // Plain http only to a loopback host.
        assert!(acme_with("/base_url", Some(json!("http://127.0.0.1:8080/v1"))).is_ok());
        assert!(acme_with("/base_url", Some(json!("http://localhost/v1"))).is_ok());
        assert!(refusal(parse_declarations("{\"acme\": ")).contains("not JSON"));
        assert!(refusal(parse(json!(["acme"]))).contains("not a JSON object"));
        // A base URL with user information is refused, and its text never repeated.
        let refused = refusal(acme_with("/base_url", Some(json!("https://deploy:TOKEN@api.acme.example"))));
        assert!(
            refused.contains("credentials") && !refused.contains("TOKEN") && !refused.contains("deploy"),
            "{refused}"
        );
        let refused = refusal(parse_declarations(r#"{"acme": {"base_url": "https://deploy:TOKEN@x" "#));
        assert!(!refused.contains("TOKEN"), "{refused}");
    }

    #[test]
    fn the_environment_refuses_to_start_with_a_broken_declaration() {
        let env = |text: &'static str| move |name: &str| (name == ENV_VENDORS).then(|| text.to_owned());
        let error =
            super::super::Settings::from_lookup(env(r#"{"acme": {"base_url": "https://a.example"}}"#))
                .unwrap_err();
        assert!(error.to_string().contains("field \"auth\": is missing"), "{error}");
        assert!(super::super::Settings::from_lookup(env("  ")).unwrap().declared.is_empty());
    }

    #[test]
    fn a_declared_vendor_is_looked_up_as_a_built_in_is_and_takes_no_base_url_tag() {
        use super::super::{Settings, TAG_BASE_URL, TAG_VENDOR, Target};
        let vendors = json!({ "acme": acme() }).to_string();
        let settings = Settings::from_lookup(|name| (name == ENV_VENDORS).then(|| vendors.clone())).unwrap();
        let tags =
            |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let target = Target::from_tags(&tags(&[(TAG_VENDOR, "acme")]), &settings).unwrap();
        assert_eq!((target.vendor.name(), target.base_url.as_str()), ("acme", "https://api.acme.example/v1"));
        assert!(target.vendor.declared() && settings.vendor("ringg").is_some_and(|v| !v.declared()));
        // A declared vendor's keys go to its declaration's base URL only.
        let tagged = tags(&[(TAG_VENDOR, "acme"), (TAG_BASE_URL, "https://api.acme.example/v1")]);
        let refused = Target::from_tags(&tagged, &settings).unwrap_err().to_string();
        assert!(refused.contains("remove the rotation:base-url tag"), "{refused}");
        let unknown = Target::from_tags(&tags(&[(TAG_VENDOR, "acme2")]), &settings).unwrap_err().to_string();
        assert!(unknown.contains("calcom, ringg, projectdiscovery, acme"), "{unknown}");
        // Without the declaration, the name is unknown: a vendor is what the environment says.
        assert!(
            Target::from_tags(&tags(&[(TAG_VENDOR, "acme")]), &Settings::from_lookup(|_| None).unwrap())
                .is_err()
        );
    }
    #[test]
    fn every_catalog_entry_parses_with_its_documentation() {
        let catalog = catalog().unwrap();
        assert_eq!(catalog.len(), vendors::CATALOG.len());
        for vendor in catalog {
            assert!(vendor.catalog, "{}", vendor.name);
            let docs = vendor.docs.as_deref().unwrap_or_else(|| panic!("{} has no docs", vendor.name));
            assert!(docs.starts_with("https://"), "{docs}");
            assert!(vendors::lookup(&vendor.name).is_none(), "a catalog name is no built-in's");
        }
        let by_name = |name: &str| *catalog.iter().find(|v| v.name == name).unwrap();
        // Databricks: the workspace URL is each deployment's, so there is no default.
        assert!(by_name("databricks").base_url.is_none() && by_name("databricks").official_hosts.is_empty());
        assert_eq!(by_name("gitlab").official_hosts, ["gitlab.com"]);
        assert_eq!(by_name("ngrok").headers[0].0.as_str(), "ngrok-version");
        let revoke = by_name("databricks").overlap.as_ref().unwrap();
        assert_eq!(revoke.revoke_body("t-1"), Some(json!({"token_id": "t-1"})));
        assert_eq!(revoke.revoke_path("t-1"), "/api/2.0/token/delete");
    }

    /// RFC 7386's own examples, and an override of a catalog entry checked as a whole.
    #[test]
    fn an_override_is_a_merge_patch_of_the_catalogs_entry() {
        for (target, patch, result) in [
            (json!({"a": "b"}), json!({"a": "c"}), json!({"a": "c"})),
            (json!({"a": "b"}), json!({"b": "c"}), json!({"a": "b", "b": "c"})),
            (json!({"a": "b"}), json!({"a": null}), json!({})),
            (json!({"a": "b", "b": "c"}), json!({"a": null}), json!({"b": "c"})),
            (json!({"a": ["b"]}), json!({"a": "c"}), json!({"a": "c"})),
            (json!({"a": "c"}), json!({"a": ["b"]}), json!({"a": ["b"]})),
            (json!({"a": {"b": "c"}}), json!({"a": {"b": "d", "c": null}}), json!({"a": {"b": "d"}})),
            (json!({"a": [{"b": "c"}]}), json!({"a": [1]}), json!({"a": [1]})),
            (json!(["a", "b"]), json!(["c", "d"]), json!(["c", "d"])),
            (json!({"a": "b"}), json!(["c"]), json!(["c"])),
            (json!({"a": "foo"}), json!(null), json!(null)),
            (json!({"e": null}), json!({"a": 1}), json!({"e": null, "a": 1})),
            (json!([1, 2]), json!({"a": "b", "c": null}), json!({"a": "b"})),
            (json!({}), json!({"a": {"bb": {"ccc": null}}}), json!({"a": {"bb": {}}})),
        ] {
            assert_eq!(merge_patch(&target, &patch), result, "{target} + {patch}");
        }
        let patched = parse(json!({
            "vercel": {"overlap": {"grace_seconds": 600}},
            "gitlab": {"base_url": "https://gitlab.internal.example/api/v4"},
        }))
        .unwrap();
        let vercel = patched.iter().find(|v| v.name == "vercel").unwrap();
        assert_eq!(vercel.overlap.as_ref().unwrap().grace_seconds, 600);
        assert_eq!(vercel.overlap.as_ref().unwrap().key_id, "/token/id", "the rest of the entry stays");
        assert!(vercel.catalog);
        let gitlab = patched.iter().find(|v| v.name == "gitlab").unwrap();
        assert_eq!(gitlab.official_hosts, ["gitlab.internal.example"]);
        // The result is checked like any declaration, naming the vendor and the field.
        let refused = refusal(parse(json!({"vercel": {"overlap": {"revoke": {"path": "/v3/user/tokens"}}}})));
        assert!(refused.contains("\"vercel\"") && refused.contains("overlap.revoke.path"), "{refused}");
        let refused = refusal(parse(json!({"gitlab": {"base_url": "http://gitlab.internal.example"}})));
        assert!(refused.contains("base_url") && refused.contains("loopback"), "{refused}");
    }

    #[test]
    fn static_headers_and_query_parameters() {
        let headers = |value: Value| acme_with("/headers", Some(value));
        let parsed = headers(json!({"Ngrok-Version": "2", "Accept": "application/vnd.api+json"})).unwrap();
        assert_eq!(parsed[0].headers.len(), 2);
        for (value, why) in [
            (json!({"Authorization": "x"}), "the header the key goes into"),
            (json!({"Host": "x"}), "may not be Host"),
            (json!({"X-Forwarded-For": "x"}), "may not be"),
            (json!({"Bad Name": "x"}), "not an HTTP header name"),
            (json!({"Accept": ""}), "printable ASCII"),
            (json!({"Accept": "caf\u{e9}"}), "printable ASCII"),
            (json!({"Accept": 2}), "printable ASCII"),
            (json!(["Accept"]), "must be a JSON object"),
        ] {
            let refused = refusal(headers(value.clone()));
            assert!(refused.contains(why) && refused.contains("headers"), "{value}: {refused}");
        }
        let parsed = acme_with("/verify/query", Some(json!({"limit": "1", "order": "a:b,c"}))).unwrap();
        assert_eq!(
            parsed[0].verify.query,
            [("limit".to_owned(), "1".to_owned()), ("order".into(), "a:b,c".into())]
        );
        for value in [
            json!({"limit": 1}),
            json!({"a b": "1"}),
            json!({"q": "a&b=c"}),
            json!({"q": ""}),
            json!({"": "x"}),
        ] {
            let refused = refusal(acme_with("/verify/query", Some(value.clone())));
            assert!(refused.contains("verify.query"), "{value}: {refused}");
        }
        assert!(
            acme_with("/rotate/query", Some(json!({"region": "eu"})))
                .is_ok_and(|v| v[0].rotate.query == [("region".to_owned(), "eu".to_owned())])
        );
    }

    #[test]
    fn computed_expiry_values_and_max_lifetime() {
        let body = |value: Value| acme_with("/rotate/body", Some(value));
        for format in ["date", "rfc3339", "epoch_s", "epoch_ms", "days", "seconds"] {
            assert!(body(json!({"expires": {"$expiry": format}})).is_ok(), "{format}");
        }
        assert!(body(json!({"a": [{"b": {"$expiry": "date"}}]})).is_ok(), "at any depth");
        for (value, why) in [
            (json!({"x": {"$expiry": "weeks"}}), "one of date, rfc3339"),
            (json!({"x": {"$expiry": "date", "y": 1}}), "alone in its object"),
            (json!({"x": {"$expiry": 3}}), "one of date"),
            (json!({"x": {"$expires": "date"}}), "not a computed value"),
            (json!({"id": "{key_id}"}), "replaced only in a revoke"),
            (json!({"ids": ["k-{key_id}"]}), "replaced only in a revoke"),
        ] {
            let refused = refusal(body(value.clone()));
            assert!(refused.contains(why) && refused.contains("rotate.body"), "{value}: {refused}");
        }
        assert!(acme_with("/rotate/max_lifetime", Some(json!(31536000))).is_ok());
        for value in [json!(0), json!(-1), json!(1.5), json!("365d"), json!(10 * 366 * 86400 + 1)] {
            let refused = refusal(acme_with("/rotate/max_lifetime", Some(value.clone())));
            assert!(refused.contains("rotate.max_lifetime"), "{value}: {refused}");
        }
    }

    #[test]
    fn a_revoke_names_the_id_in_its_path_or_as_a_whole_string_of_its_body() {
        let revoke = |value: Value| acme_with("/overlap/revoke", Some(value));
        let parsed =
            revoke(json!({"method": "POST", "path": "/keys/delete", "body": {"ids": ["{key_id}"], "why": "rotated"}}))
                .unwrap();
        let overlap = parsed[0].overlap.as_ref().unwrap();
        assert_eq!(overlap.revoke_body("k9"), Some(json!({"ids": ["k9"], "why": "rotated"})));
        for (value, why) in [
            (json!({"method": "POST", "path": "/keys/delete"}), "must hold {key_id} once"),
            (
                json!({"method": "POST", "path": "/keys/delete", "body": {"id": "key-{key_id}"}}),
                "whole string value",
            ),
            (json!({"method": "POST", "path": "/keys/{key_id}", "body": {"id": "{key_id}"}}), "placeholder"),
            (
                json!({"method": "POST", "path": "/keys/delete", "body": {"id": "{key_id}", "at": {"$expiry": "date"}}}),
                "rotate body only",
            ),
        ] {
            let refused = refusal(revoke(value.clone()));
            assert!(refused.contains(why) && refused.contains("overlap.revoke"), "{value}: {refused}");
        }
    }
    /// `{key_id}` in a rotate path (Cloudflare's roll) names the presented key, whose id the
    /// verify answer must name.
    #[test]
    fn a_rotate_path_may_name_the_presented_key_when_the_verify_answer_does() {
        let refused = refusal(acme_with("/rotate/path", Some(json!("/tokens/{key_id}/value"))));
        assert!(refused.contains("rotate.path") && refused.contains("verify.key_id"), "{refused}");
        let mut vendor = acme();
        vendor["rotate"]["path"] = json!("/tokens/{key_id}/value");
        vendor["verify"]["key_id"] = json!("/result/id");
        let parsed = parse(json!({ "acme": vendor.clone() })).unwrap();
        assert!(parsed[0].verify.key_id.is_some() && parsed[0].rotate.path.contains("{key_id}"));
        vendor["rotate"]["path"] = json!("/tokens/{key_id}/{key_id}");
        assert!(refusal(parse(json!({ "acme": vendor.clone() }))).contains("once"));
        vendor["rotate"]["path"] = json!("/tokens/{id}/value");
        assert!(refusal(parse(json!({ "acme": vendor.clone() }))).contains("placeholder"));
        vendor["rotate"]["path"] = json!("/t");
        vendor["verify"]["method"] = json!("HEAD");
        vendor["verify"].as_object_mut().unwrap().remove("vouch");
        assert!(refusal(parse(json!({ "acme": vendor }))).contains("verify.key_id"), "HEAD has no body");
    }
}
