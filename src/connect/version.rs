//! The Kafka version a Connect worker reports on `GET /`, and what that version can do.
//!
//! Capabilities were checked against apache/kafka's `ConnectorsResource` and
//! `CreateConnectorRequest` at the release tags (see each constant). Confluent Platform
//! workers report their own version (`7.6.0-ccs`, `7.6.0-ce`); those are mapped to the
//! Apache Kafka release they ship, so the checks work on them too.

use std::fmt;

/// `PUT /connectors/{c}/stop` and `GET /connectors/{c}/offsets` (KIP-875, first half): 3.5.0.
pub const MIN_STOP: (u32, u32) = (3, 5);
/// `GET /connectors/{c}/offsets`: 3.5.0 (read-only half of KIP-875).
pub const MIN_OFFSETS_READ: (u32, u32) = (3, 5);
/// `PATCH` and `DELETE /connectors/{c}/offsets` (KIP-875, second half): 3.6.0.
pub const MIN_OFFSETS_WRITE: (u32, u32) = (3, 6);
/// `initial_state` in `POST /connectors` (KIP-980, KAFKA-15470): first released in 3.7.0.
/// ARCHITECTURE.md and LAB.md say 3.9+; the 3.7.0 tag already has the field and documents
/// it in docs/connect.html, so 3.7 is the true minimum.
pub const MIN_INITIAL_STATE: (u32, u32) = (3, 7);
/// `POST /connectors/{c}/restart?includeTasks=&onlyFailed=` (KIP-745): 3.0.0.
pub const MIN_RESTART_TASKS: (u32, u32) = (3, 0);

/// A Connect worker's version: the string it reported, and the Apache Kafka release it
/// corresponds to when kafka-dr could read it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ConnectVersion {
    /// Exactly what `GET /` returned in `version`, e.g. `4.1.2`, `3.6.0-ccs`, `7.6.1-ce`.
    pub raw: String,
    /// The Apache Kafka (major, minor, patch), if the string could be read.
    pub kafka: Option<(u32, u32, u32)>,
    /// True when `raw` is a Confluent Platform version mapped to `kafka`.
    pub confluent: bool,
}

impl ConnectVersion {
    /// Read a version string. Never fails: an unreadable string gives `kafka: None`, and
    /// every capability check then says no (with the raw string in the error).
    pub fn parse(raw: &str) -> ConnectVersion {
        let raw_trimmed = raw.trim();
        let (numbers, qualifier) = match raw_trimmed.find(['-', '+']) {
            Some(i) => (&raw_trimmed[..i], &raw_trimmed[i + 1..]),
            None => (raw_trimmed, ""),
        };
        let mut parts = numbers.split('.');
        let major = parts.next().and_then(|p| p.parse::<u32>().ok());
        let minor = parts.next().and_then(|p| p.parse::<u32>().ok());
        // A missing patch number ("3.6") is read as 0; a non-numeric one makes it unreadable.
        let patch = match parts.next() {
            None => Some(0),
            Some(p) => p.parse::<u32>().ok(),
        };
        let (Some(major), Some(minor), Some(patch)) = (major, minor, patch) else {
            return ConnectVersion {
                raw: raw.to_string(),
                kafka: None,
                confluent: false,
            };
        };
        let qualifier = qualifier.to_ascii_lowercase();
        let cp_qualifier = qualifier.starts_with("ccs") || qualifier.starts_with("ce");
        // Apache Kafka never had a major version >= 5; Confluent Platform 5.x..8.x did.
        if cp_qualifier && major >= 5 {
            let kafka = match major {
                5 => Some((2, minor, patch)),     // CP 5.0..5.5 -> AK 2.0..2.5
                6 => Some((2, minor + 6, patch)), // CP 6.0..6.2 -> AK 2.6..2.8
                7 => Some((3, minor, patch)),     // CP 7.0..7.9 -> AK 3.0..3.9
                8 => Some((4, minor, patch)),     // CP 8.0..    -> AK 4.0..
                _ => None,
            };
            return ConnectVersion {
                raw: raw.to_string(),
                kafka,
                confluent: kafka.is_some(),
            };
        }
        ConnectVersion {
            raw: raw.to_string(),
            kafka: Some((major, minor, patch)),
            confluent: false,
        }
    }

    /// True when the Kafka release is known and at least `min` (major, minor).
    pub fn at_least(&self, min: (u32, u32)) -> bool {
        match self.kafka {
            Some((major, minor, _)) => (major, minor) >= min,
            None => false,
        }
    }

    /// `PATCH`/`DELETE /connectors/{c}/offsets` (KIP-875): Kafka 3.6+.
    pub fn supports_offsets_api(&self) -> bool {
        self.at_least(MIN_OFFSETS_WRITE)
    }

    /// `GET /connectors/{c}/offsets`: Kafka 3.5+.
    pub fn supports_offsets_read(&self) -> bool {
        self.at_least(MIN_OFFSETS_READ)
    }

    /// `initial_state` on `POST /connectors`: Kafka 3.7+ (see [`MIN_INITIAL_STATE`]).
    pub fn supports_initial_state(&self) -> bool {
        self.at_least(MIN_INITIAL_STATE)
    }

    /// `PUT /connectors/{c}/stop`: Kafka 3.5+.
    pub fn supports_stop(&self) -> bool {
        self.at_least(MIN_STOP)
    }

    /// `POST /connectors/{c}/restart` with `includeTasks`/`onlyFailed`: Kafka 3.0+.
    pub fn supports_restart_tasks(&self) -> bool {
        self.at_least(MIN_RESTART_TASKS)
    }
}

impl fmt::Display for ConnectVersion {
    /// `Kafka 3.4.0`, `Kafka 3.6.0 (Confluent Platform 7.6.0-ccs)` or `version \`xyz\``.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.kafka, self.confluent) {
            (Some((a, b, c)), false) if self.raw.trim() == format!("{a}.{b}.{c}") => {
                write!(f, "Kafka {a}.{b}.{c}")
            }
            (Some((a, b, c)), false) => write!(f, "Kafka {a}.{b}.{c} (`{}`)", self.raw),
            (Some((a, b, c)), true) => {
                write!(f, "Kafka {a}.{b}.{c} (Confluent Platform {})", self.raw)
            }
            (None, _) => write!(f, "an unreadable version `{}`", self.raw),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apache_versions() {
        let v = ConnectVersion::parse("4.1.2");
        assert_eq!(v.kafka, Some((4, 1, 2)));
        assert!(!v.confluent);
        assert!(v.supports_offsets_api());
        assert!(v.supports_initial_state());
        assert!(v.supports_stop());
        assert_eq!(v.to_string(), "Kafka 4.1.2");

        let v = ConnectVersion::parse("3.4.0");
        assert!(!v.supports_offsets_api());
        assert!(!v.supports_offsets_read());
        assert!(!v.supports_stop());
        assert!(!v.supports_initial_state());
        assert!(v.supports_restart_tasks());

        let v = ConnectVersion::parse("3.5.2");
        assert!(v.supports_stop());
        assert!(v.supports_offsets_read());
        assert!(!v.supports_offsets_api());

        let v = ConnectVersion::parse("3.6.0");
        assert!(v.supports_offsets_api());
        assert!(!v.supports_initial_state());

        assert!(ConnectVersion::parse("3.7.0").supports_initial_state());
        assert!(ConnectVersion::parse("3.9.1").supports_initial_state());
        assert!(!ConnectVersion::parse("2.8.2").supports_restart_tasks());
        assert!(ConnectVersion::parse("10.0.0").supports_offsets_api());
    }

    #[test]
    fn qualifiers() {
        let v = ConnectVersion::parse("3.6.0-ccs");
        assert_eq!(v.kafka, Some((3, 6, 0)));
        assert!(!v.confluent);
        assert!(v.supports_offsets_api());
        assert_eq!(v.to_string(), "Kafka 3.6.0 (`3.6.0-ccs`)");

        assert_eq!(
            ConnectVersion::parse("4.2.0-SNAPSHOT").kafka,
            Some((4, 2, 0))
        );
        assert_eq!(ConnectVersion::parse(" 3.9.0-rc1 ").kafka, Some((3, 9, 0)));
        assert_eq!(ConnectVersion::parse("3.6").kafka, Some((3, 6, 0)));
    }

    #[test]
    fn confluent_platform_versions() {
        let v = ConnectVersion::parse("7.5.0-ccs");
        assert_eq!(v.kafka, Some((3, 5, 0)));
        assert!(v.confluent);
        assert!(v.supports_stop());
        assert!(!v.supports_offsets_api());
        assert_eq!(v.to_string(), "Kafka 3.5.0 (Confluent Platform 7.5.0-ccs)");
        assert_eq!(ConnectVersion::parse("7.6.1-ce").kafka, Some((3, 6, 1)));
        assert_eq!(ConnectVersion::parse("6.2.0-ccs").kafka, Some((2, 8, 0)));
        assert_eq!(ConnectVersion::parse("5.5.1-ccs").kafka, Some((2, 5, 1)));
        assert_eq!(ConnectVersion::parse("8.0.0-ccs").kafka, Some((4, 0, 0)));
    }

    #[test]
    fn unreadable() {
        for raw in ["", "unknown", "x.y.z", "4.one.0", "4"] {
            let v = ConnectVersion::parse(raw);
            assert_eq!(v.kafka, None, "{raw}");
            assert!(!v.supports_offsets_api());
            assert!(!v.supports_stop());
            assert!(v.to_string().contains("unreadable"));
        }
    }
}
