//! `ClientConfig`: the resolved librdkafka configuration of one cluster, and the rule that
//! decides which configuration keys hold secrets.
//!
//! This type is the only place resolved secrets live after loading. Its `Debug` and
//! `Display` redact every secret value, so a config can be logged, printed in `--verbose`
//! output or put in an error without leaking a password. It does not talk to Kafka: the
//! kafka module copies it into an rdkafka `ClientConfig` with `iter()`.

use std::collections::BTreeMap;
use std::fmt;

/// What redacted values print as.
pub const REDACTED: &str = "<redacted>";

/// True when the values of `key` must never be shown: passwords, secrets, JAAS configs,
/// tokens, private keys (`ssl.key.*`), and OAUTHBEARER configs (they embed client secrets).
/// Deliberately broad: redacting a harmless value costs nothing, leaking one costs a lot.
pub fn is_secret_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    const WORDS: [&str; 5] = ["password", "secret", "jaas", "token", "credential"];
    WORDS.iter().any(|w| k.contains(w))
        || k == "sasl.oauthbearer.config"
        // `ssl.key.pem`, `ssl.key.password`, `ssl_key`, `ssl.keystore.key`: a `key` segment.
        || k.split(['.', '_']).any(|seg| seg == "key")
}

/// librdkafka configuration (`key -> value`) for one cluster, secrets resolved.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ClientConfig {
    entries: BTreeMap<String, String>,
}

impl ClientConfig {
    pub fn new() -> Self {
        Self::default()
    }

    /// The value of `key`, if set. May be a secret: never print it without `is_secret_key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries.get(key).map(String::as_str)
    }

    /// Set `key` (later settings win, as with kcat `-X`).
    pub fn set(&mut self, key: impl Into<String>, value: impl Into<String>) {
        self.entries.insert(key.into(), value.into());
    }

    /// Remove `key`, returning its value.
    pub fn remove(&mut self, key: &str) -> Option<String> {
        self.entries.remove(key)
    }

    /// Every `(key, value)`, sorted by key, secrets included (to hand to librdkafka).
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The non-empty values of secret keys, for redaction and leak checks.
    pub fn secret_values(&self) -> Vec<String> {
        self.entries
            .iter()
            .filter(|(k, v)| is_secret_key(k) && !v.is_empty())
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// The same entries with secret values replaced by `<redacted>`, safe to print or store.
    pub fn redacted(&self) -> BTreeMap<String, String> {
        self.entries
            .iter()
            .map(|(k, v)| (k.clone(), redact(k, v)))
            .collect()
    }
}

fn redact(key: &str, value: &str) -> String {
    if is_secret_key(key) {
        REDACTED.to_string()
    } else {
        value.to_string()
    }
}

impl fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.entries.iter().map(|(k, v)| (k, redact(k, v))))
            .finish()
    }
}

/// One `key=value` per line, secrets redacted (the format kcat `-X` and `.properties` use).
impl fmt::Display for ClientConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (k, v)) in self.entries.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{k}={}", redact(k, v))?;
        }
        Ok(())
    }
}

impl<'a> IntoIterator for &'a ClientConfig {
    type Item = (&'a String, &'a String);
    type IntoIter = std::collections::btree_map::Iter<'a, String, String>;
    fn into_iter(self) -> Self::IntoIter {
        self.entries.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_keys() {
        for k in [
            "sasl.password",
            "sasl.jaas.config",
            "ssl.key.password",
            "ssl.key.pem",
            "ssl.keystore.password",
            "sasl.oauthbearer.client.secret",
            "sasl.oauthbearer.config",
            "ssl_key",
            "ssl.keystore.key",
            "SASL.PASSWORD",
        ] {
            assert!(is_secret_key(k), "{k}");
        }
        for k in [
            "bootstrap.servers",
            "sasl.username",
            "security.protocol",
            "ssl.ca.location",
            "ssl.keystore.location",
            "client.id",
        ] {
            assert!(!is_secret_key(k), "{k}");
        }
    }

    #[test]
    fn debug_and_display_redact() {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", "h:9092");
        c.set("sasl.username", "admin");
        c.set("sasl.password", "hunter2-s3cret");
        c.set("ssl.key.pem", "-----BEGIN PRIVATE KEY-----abc");
        let dbg = format!("{c:?} {c:#?} {c}");
        assert!(!dbg.contains("hunter2-s3cret"), "{dbg}");
        assert!(!dbg.contains("BEGIN PRIVATE KEY"), "{dbg}");
        assert!(dbg.contains("admin") && dbg.contains("h:9092") && dbg.contains(REDACTED));
        assert_eq!(c.get("sasl.password"), Some("hunter2-s3cret"));
        let mut secrets = c.secret_values();
        secrets.sort();
        assert_eq!(secrets.len(), 2);
        assert_eq!(c.redacted()["sasl.password"], REDACTED);
    }
}
