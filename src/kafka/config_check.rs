//! Checking librdkafka settings without creating a client: librdkafka itself says which
//! keys exist and which values it accepts (`rd_kafka_conf_set` on a fresh configuration,
//! through rdkafka's `ClientConfig::create_native_config`), so a topology is refused when
//! it is loaded rather than at its first connection.
//!
//! Nothing here connects, and a rejection never holds the value it was given: the value
//! may be a password under a mistyped key.

use rdkafka::config::ClientConfig;
use rdkafka::error::KafkaError as RdError;
use rdkafka_sys::RDKafkaConfRes;
use thiserror::Error;

/// Why librdkafka refuses one setting. Holds the key and librdkafka's reason, never the
/// value.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ConfigRejection {
    #[error("`{key}` is not a librdkafka configuration property")]
    UnknownKey { key: String },
    #[error("librdkafka refuses the value of `{key}`: {reason}")]
    InvalidValue { key: String, reason: String },
}

impl ConfigRejection {
    /// The key refused (or whose value was refused).
    pub fn key(&self) -> &str {
        match self {
            ConfigRejection::UnknownKey { key } | ConfigRejection::InvalidValue { key, .. } => key,
        }
    }
}

/// Settings whose setting acts at once instead of being stored (`plugin.library.paths`
/// loads shared libraries): only their name is checked here, the value at connect time.
const ACTS_WHEN_SET: &[&str] = &["plugin.library.paths"];

/// Checks one librdkafka setting as `rd_kafka_conf_set` would at connect time. With
/// `value: None` (a value not known yet, e.g. an unresolved `${env:...}` reference) only
/// the key is checked.
pub fn check_client_setting(key: &str, value: Option<&str>) -> Result<(), ConfigRejection> {
    let value = value.filter(|_| !ACTS_WHEN_SET.contains(&key));
    // A placeholder for a key-only check: librdkafka says UNKNOWN for a key it does not
    // have whatever the value, and INVALID (ignored here) for a value it does not take.
    let tried = value.unwrap_or("");
    let result = ClientConfig::new()
        .set(key, tried)
        .create_native_config()
        .map(|_| ());
    match result {
        Ok(()) => Ok(()),
        Err(RdError::ClientConfig(RDKafkaConfRes::RD_KAFKA_CONF_UNKNOWN, ..)) => {
            Err(ConfigRejection::UnknownKey {
                key: key.to_string(),
            })
        }
        Err(_) if value.is_none() => Ok(()),
        Err(RdError::ClientConfig(_, desc, ..)) => Err(ConfigRejection::InvalidValue {
            key: key.to_string(),
            reason: without_value(&desc, tried),
        }),
        Err(RdError::Nul(_)) => Err(ConfigRejection::InvalidValue {
            key: key.to_string(),
            reason: "it contains a NUL character".to_string(),
        }),
        Err(other) => Err(ConfigRejection::InvalidValue {
            key: key.to_string(),
            reason: without_value(&other.to_string(), tried),
        }),
    }
}

/// Checks every setting, in order; the first rejection is returned.
pub fn check_client_config<'a>(
    pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<(), ConfigRejection> {
    pairs
        .into_iter()
        .try_for_each(|(k, v)| check_client_setting(k, Some(v)))
}

/// librdkafka's reason with the value taken out: `Invalid value "x" for configuration
/// property "k"` and `... value 5 is outside allowed range ...` lose the value; any other
/// occurrence of a value long enough to be a secret is masked.
fn without_value(desc: &str, value: &str) -> String {
    if value.is_empty() {
        return desc.to_string();
    }
    let mut out = desc
        .replace(&format!(" \"{value}\""), "")
        .replace(&format!(" value {value} "), " value ");
    if value.chars().count() >= 4 {
        out = out.replace(value, crate::redact::MASK);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_settings_pass() {
        check_client_config([
            ("security.protocol", "SASL_SSL"),
            ("sasl.mechanism", "SCRAM-SHA-512"),
            ("sasl.username", "admin"),
            ("sasl.password", "s3cret-value"),
            ("socket.timeout.ms", "30000"),
            // A topic-level property, which librdkafka takes on the global configuration.
            ("request.timeout.ms", "30000"),
            ("ssl.ca.location", "/nonexistent/ca.pem"),
        ])
        .unwrap();
        check_client_setting("socket.timeout.ms", None).unwrap();
        check_client_setting("plugin.library.paths", Some("/nonexistent/lib.so")).unwrap();
    }

    #[test]
    fn unknown_keys_and_bad_values_are_refused_without_the_value() {
        let e = check_client_setting("sasl.passwd", Some("unit-s3cret-value")).unwrap_err();
        assert_eq!(
            e,
            ConfigRejection::UnknownKey {
                key: "sasl.passwd".into()
            }
        );
        assert!(check_client_setting("sasl.passwd", None).is_err());
        for (key, value) in [
            ("socket.timeout.ms", "soon-s3cret"),
            ("socket.timeout.ms", "1"),
            ("security.protocol", "plaintext-s3cret"),
            ("sasl.password", "nul\0s3cret"),
        ] {
            let e = check_client_setting(key, Some(value)).unwrap_err();
            let msg = e.to_string();
            assert!(
                matches!(e, ConfigRejection::InvalidValue { .. }),
                "{key}: {msg}"
            );
            assert_eq!(e.key(), key);
            assert!(msg.contains(key), "{msg}");
            assert!(!msg.contains("s3cret"), "{msg}");
            if value == "1" {
                assert!(!msg.contains(" 1 "), "{msg}");
            }
        }
    }
}
