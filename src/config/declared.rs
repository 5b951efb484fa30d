//! `ROTATION_VENDORS`: vendors the deployer declares in the function's environment (issue 22's
//! contract), parsed once into typed declarations. Every rule of the contract is checked here; a
//! declaration that breaks one stops the function from starting, naming the vendor and the field.
//! Nothing here repeats the text of a base URL with user information, or any value of the JSON
//! beyond the names of vendors and fields.

use std::collections::HashSet;
use std::fmt;

use reqwest::Method;
use reqwest::header::HeaderName;
use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use super::parse_base_url;
use crate::vendors::{self, Declared, Overlap, Rotate, Verify};

/// The environment variable that declares vendors.
pub const ENV_VENDORS: &str = "ROTATION_VENDORS";

/// How long a replaced key stays live when `grace_seconds` is not given.
pub const DEFAULT_GRACE_SECONDS: u64 = 3600;
/// The longest grace a declaration may ask for: a year (a rotation runs at least that often).
pub const MAX_GRACE_SECONDS: u64 = 366 * 24 * 3600;

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

    /// JSON keeps the last of two members with one name: the declaration would not be what it
    /// says.
    #[error(
        "{ENV_VENDORS}: the vendor {name:?} is declared twice, and JSON would keep only the last; declare it once"
    )]
    VendorTwice { name: String },
}

/// Said of a field named twice in one object.
const NAMED_TWICE: &str = "is named twice in one object, and JSON would keep only the last; name it once";

/// The declarations in `text` (the variable's value), in the order written.
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
    vendors.iter().map(|(name, body)| declaration(name, body)).collect()
}

/// One vendor's declaration, every rule checked.
fn declaration(name: &str, body: &Value) -> Result<Declared, DeclarationError> {
    check_name(name)?;
    let at = Fields { vendor: name, prefix: String::new() };
    let body = at.object(body, "", &["base_url", "auth", "rotate", "verify", "overlap"])?;
    let base_url = at.required_str(body, "base_url")?;
    // The problem is said in the contract's words; the text itself is never repeated.
    let base_url = parse_base_url(base_url).map_err(|problem| at.fail("base_url", problem.to_string()))?;

    let auth = at.required(body, "auth")?;
    let auth_at = at.below("auth");
    let auth = auth_at.object(auth, "", &["header", "prefix"])?;
    let header = header(&auth_at, auth_at.required_str(auth, "header")?)?;
    let prefix = auth_at.optional_str(auth, "prefix")?.unwrap_or_default().to_owned();
    if !prefix.bytes().all(|b| (0x20..=0x7e).contains(&b)) {
        return Err(auth_at.fail("prefix", "must be printable ASCII".into()));
    }

    let rotate_at = at.below("rotate");
    let rotate = rotate_at.object(at.required(body, "rotate")?, "", &["method", "path", "body", "key"])?;
    let rotate = Rotate {
        method: method(&rotate_at, rotate, &[Method::POST, Method::PUT, Method::PATCH])?,
        path: path(&rotate_at, rotate_at.required_str(rotate, "path")?, None)?,
        body: rotate.get("body").cloned(),
        key: pointer(&rotate_at, "key", rotate_at.required_str(rotate, "key")?)?,
    };

    let verify_at = at.below("verify");
    let verify =
        verify_at.object(at.required(body, "verify")?, "", &["method", "path", "refused", "vouch"])?;
    let refused = match verify.get("refused") {
        None => vec![401],
        Some(list) => statuses(&verify_at, list)?,
    };
    let vouch = verify_at
        .optional_str(verify, "vouch")?
        .map(|text| pointer(&verify_at, "vouch", text))
        .transpose()?;
    let verify_method = method(&verify_at, verify, &[Method::GET, Method::HEAD])?;
    if verify_method == Method::HEAD && vouch.is_some() {
        return Err(
            verify_at.fail("vouch", "cannot be read from a HEAD answer, which has no body; use GET".into())
        );
    }
    let verify = Verify {
        method: verify_method,
        path: path(&verify_at, verify_at.required_str(verify, "path")?, None)?,
        refused,
        vouch,
    };

    let overlap = match body.get("overlap") {
        None => None,
        Some(overlap) => Some(self::overlap(&at.below("overlap"), overlap)?),
    };
    Ok(Declared { name: name.to_owned(), base_url, header, prefix, rotate, verify, overlap })
}

fn overlap(at: &Fields<'_>, overlap: &Value) -> Result<Overlap, DeclarationError> {
    let overlap = at.object(overlap, "", &["key_id", "revoke", "grace_seconds"])?;
    let key_id = pointer(at, "key_id", at.required_str(overlap, "key_id")?)?;
    let revoke_at = at.below("revoke");
    let revoke = revoke_at.object(at.required(overlap, "revoke")?, "", &["method", "path"])?;
    let revoke_method =
        method(&revoke_at, revoke, &[Method::DELETE, Method::POST, Method::PUT, Method::PATCH])?;
    let revoke_path = path(&revoke_at, revoke_at.required_str(revoke, "path")?, Some("{key_id}"))?;
    let grace_seconds = match overlap.get("grace_seconds") {
        None => DEFAULT_GRACE_SECONDS,
        Some(seconds) => seconds.as_u64().filter(|s| *s <= MAX_GRACE_SECONDS).ok_or_else(|| {
            at.fail(
                "grace_seconds",
                format!("must be a whole number of seconds, 0 to {MAX_GRACE_SECONDS} (a year)"),
            )
        })?,
    };
    Ok(Overlap { key_id, revoke_method, revoke_path, grace_seconds })
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
        assert_eq!((acme.name.as_str(), acme.base_url.as_str()), ("acme", "https://api.acme.example/v1"));
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
}
