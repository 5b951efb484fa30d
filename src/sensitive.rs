//! A string that must never reach a log: API keys, secret values and the event's RotationToken.

use std::fmt;

use sha2::{Digest, Sha256};

/// Holds key material. `Debug` and `Display` print `[REDACTED]`, so the value cannot reach a log
/// line through formatting by accident; reading it takes an explicit [`Sensitive::expose`].
#[derive(Clone, PartialEq, Eq)]
pub struct Sensitive(String);

impl Sensitive {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value itself, for the one place that must send or store it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// A short, non-reversible name for the value: `sha256:` and the first 12 hex digits of its
    /// SHA-256. An operator can compare it with the fingerprint of a key copied from a dashboard.
    pub fn fingerprint(&self) -> String {
        let digest = Sha256::digest(self.0.as_bytes());
        let hex: String = digest[..6].iter().map(|b| format!("{b:02x}")).collect();
        format!("sha256:{hex}")
    }
}

impl fmt::Debug for Sensitive {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[REDACTED]")
    }
}

impl fmt::Display for Sensitive {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[REDACTED]")
    }
}

/// Bytes that may hold key material: a vendor's answer that could not be read, kept to be stored.
/// Formatting shows only its length.
#[derive(Clone, PartialEq, Eq)]
pub struct SensitiveBytes(Vec<u8>);

impl SensitiveBytes {
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    pub fn into_inner(self) -> Vec<u8> {
        self.0
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for SensitiveBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[REDACTED {} bytes]", self.0.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formatting_never_shows_the_value() {
        let key = Sensitive::new("cal_live_0123456789abcdef0123456789abcdef");
        assert_eq!(format!("{key}"), "[REDACTED]");
        assert_eq!(format!("{key:?}"), "[REDACTED]");
        assert_eq!(format!("{:?}", Some(&key)), "Some([REDACTED])");
        let bytes = SensitiveBytes::new(b"cal_live_0123".to_vec());
        assert_eq!(format!("{bytes:?}"), "[REDACTED 13 bytes]");
    }

    #[test]
    fn fingerprint_is_a_sha256_prefix() {
        // sha256("abc") = ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad
        assert_eq!(Sensitive::new("abc").fingerprint(), "sha256:ba7816bf8f01");
    }
}
