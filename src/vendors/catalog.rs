//! The catalog: vendors shipped in the binary as data, one declaration file each in `catalog/`
//! (the format of `ROTATION_VENDORS`, parsed and checked by `config/declared.rs`). A catalog
//! vendor is chosen by `rotation:vendor` like any other; a `ROTATION_VENDORS` entry of the same
//! name patches it.

/// The declaration format as a JSON Schema (draft 2020-12), printed by `vendors schema`: the
/// function refuses everything it refuses (tools/test_schema.py and tests/vendors.rs hold both
/// to shared samples).
pub const SCHEMA: &str = include_str!("schema.json");

/// Each vendor's `rotation:vendor` name and its entry.
pub static CATALOG: &[(&str, &str)] = &[
    ("gitlab", include_str!("catalog/gitlab.json")),
    ("vercel", include_str!("catalog/vercel.json")),
    ("databricks", include_str!("catalog/databricks.json")),
    ("linode", include_str!("catalog/linode.json")),
    ("openai-admin", include_str!("catalog/openai-admin.json")),
    ("elastic-cloud", include_str!("catalog/elastic-cloud.json")),
    ("ngrok", include_str!("catalog/ngrok.json")),
    ("cloudflare", include_str!("catalog/cloudflare.json")),
];
