//! `KafkaError`: what failed, on which cluster and resource, and what to do next.
//!
//! Every error names the cluster (by its topology name) and, where there is one, the
//! topic, partition or group. Messages never contain configuration values: broker and
//! librdkafka strings pass through a redactor that masks every secret value of the
//! client configuration before they are stored in an error.

use std::fmt;
use std::time::Duration;

use thiserror::Error;

use crate::exit_code::ExitCode;

/// A failure while talking to a Kafka cluster.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum KafkaError {
    /// No broker of the cluster answered within the timeout, or every broker refused the
    /// connection (`refused`: librdkafka reported all brokers down before the timeout).
    #[error(
        "cannot reach Kafka cluster `{cluster}` at {bootstrap} {}{}; help: check that \
         the cluster is up, that the bootstrap address is right and that this host can reach \
         it (network, firewall, DNS)",
        Waited(*timeout, *refused),
        Detail(detail)
    )]
    Unreachable {
        cluster: String,
        bootstrap: String,
        /// How long we tried (the whole timeout unless `refused`).
        timeout: Duration,
        /// True when every broker refused the connection (or its name did not resolve)
        /// before the timeout: a dead cluster, not a slow one.
        refused: bool,
        /// The last connection error librdkafka reported, if any.
        detail: Option<String>,
    },

    /// The cluster was found unreachable earlier in this run and a short re-check says it
    /// still is: it is not waited on again (`first` is what the first attempt saw).
    /// Its text is short on purpose: the steps after the first that met the dead cluster
    /// mention it in their notes, and the whole error was said once already.
    #[error(
        "Kafka cluster `{cluster}` still does not answer (unreachable since {} ago in this \
         run, not waited on again: {})",
        Secs(Duration::from_secs(ago.as_secs())),
        short(first)
    )]
    StillDown {
        cluster: String,
        ago: Duration,
        first: Box<KafkaError>,
    },

    /// A partition's log ends before where an earlier read of it stopped: the topic
    /// was deleted and created again, or truncated.
    #[error(
        "`{topic}` partition {partition} on Kafka cluster `{cluster}` ends at offset {log_end}, before offset {read_up_to} where kafka-dr read it up to earlier: the topic was recreated or truncated; help: it is read whole again"
    )]
    LogRewound {
        cluster: String,
        topic: String,
        partition: i32,
        read_up_to: i64,
        log_end: i64,
    },

    /// The cluster refused our credentials (SASL).
    #[error(
        "authentication to Kafka cluster `{cluster}` failed: {detail}; help: check the SASL \
         mechanism, username and password configured for `{cluster}` in the topology"
    )]
    AuthenticationFailed { cluster: String, detail: String },

    /// The TLS handshake with a broker failed: the broker's certificate is not trusted
    /// (wrong CA), does not match its host name, or the broker refused our client
    /// certificate.
    #[error(
        "TLS handshake with Kafka cluster `{cluster}` at {bootstrap} failed: {detail}; help: \
         check the CA configured for `{cluster}` (ssl.truststore.location, ssl.ca.location), \
         its client certificate and key (ssl.keystore.*), and that {bootstrap} is the TLS \
         listener"
    )]
    Tls {
        cluster: String,
        bootstrap: String,
        detail: String,
    },

    /// Records the client fetched but cannot decode: a compression codec this build lacks,
    /// or a corrupt batch. Never a timeout: reading again gives the same answer.
    #[error(
        "{operation} on `{cluster}`: cannot decode its records: {reason} ({detail}); help: {}",
        undecodable_help(reason)
    )]
    Undecodable {
        cluster: String,
        /// Names the topic and partition: "reading `orders` partition 3".
        operation: String,
        /// "compression codec ... not supported by this build", "corrupt batch", ...
        reason: &'static str,
        detail: String,
    },

    /// The principal we connect as may not do this.
    #[error(
        "{operation} on `{cluster}` was denied: not authorized on {resource} ({detail}); help: \
         grant the principal kafka-dr connects as the needed ACL on {resource}, or connect as \
         an admin (super user) principal"
    )]
    AuthorizationDenied {
        cluster: String,
        operation: String,
        resource: String,
        detail: String,
    },

    /// The topic (or the partition) does not exist on that cluster.
    #[error(
        "{operation} on `{cluster}`: topic `{topic}`{} does not exist; help: check the topic \
         name and that it exists on `{cluster}` (it may not be mirrored yet)",
        Partition(*partition)
    )]
    UnknownTopicOrPartition {
        cluster: String,
        operation: String,
        topic: String,
        partition: Option<i32>,
    },

    /// The group has active members, so its offsets cannot be changed.
    #[error(
        "group `{group}` has {members} active member(s) on `{cluster}`; help: stop its \
         consumers (a group must be empty before its offsets can be changed), or wait for \
         their session to time out, then retry"
    )]
    GroupNotEmpty {
        cluster: String,
        group: String,
        members: usize,
    },

    /// The cluster was reachable but the operation did not finish in time.
    #[error(
        "{operation} on `{cluster}` timed out after {}{}; help: the cluster may be overloaded \
         or partly unreachable; retry, or raise the timeout",
        Secs(*timeout),
        Detail(detail)
    )]
    Timeout {
        cluster: String,
        operation: String,
        timeout: Duration,
        detail: Option<String>,
    },

    /// Any other error returned by a broker or by librdkafka.
    #[error("{operation} on `{cluster}` failed: {code_name} (error code {code}): {message}")]
    Broker {
        cluster: String,
        operation: String,
        /// The Kafka protocol error code (>= 0) or librdkafka's local code (< 0).
        code: i32,
        /// The symbolic name, e.g. `TOPIC_ALREADY_EXISTS`.
        code_name: String,
        message: String,
    },

    /// The client configuration was rejected by librdkafka.
    #[error(
        "invalid Kafka client configuration for `{cluster}`: {message}; help: fix the client \
         properties of `{cluster}` in the topology"
    )]
    Config { cluster: String, message: String },

    /// The caller passed something the operation cannot accept.
    #[error("{operation} on `{cluster}`: {message}")]
    InvalidArgument {
        cluster: String,
        operation: String,
        message: String,
    },

    /// A record could not be decoded (e.g. an MM2 offset sync or checkpoint).
    #[error("cannot decode {what} at {location}: {message}")]
    Decode {
        what: String,
        location: String,
        message: String,
    },
}

impl KafkaError {
    /// The process exit code this error maps to (see `crate::exit_code::ExitCode`).
    pub fn exit_code(&self) -> ExitCode {
        match self {
            KafkaError::Unreachable { .. } | KafkaError::Timeout { .. } => ExitCode::Unreachable,
            KafkaError::StillDown { first, .. } => first.exit_code(),
            // librdkafka refused the topology's client settings: bad input, like a bad
            // topology file, not a failure of the cluster.
            KafkaError::Config { .. } => ExitCode::Usage,
            _ => ExitCode::Failure,
        }
    }

    /// The Kafka (or librdkafka) error code, when the error came with one.
    pub fn code(&self) -> Option<i32> {
        match self {
            KafkaError::Broker { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// The cluster the error happened on, when it is about one.
    pub fn cluster(&self) -> Option<&str> {
        match self {
            KafkaError::Unreachable { cluster, .. }
            | KafkaError::AuthenticationFailed { cluster, .. }
            | KafkaError::Tls { cluster, .. }
            | KafkaError::Undecodable { cluster, .. }
            | KafkaError::AuthorizationDenied { cluster, .. }
            | KafkaError::UnknownTopicOrPartition { cluster, .. }
            | KafkaError::GroupNotEmpty { cluster, .. }
            | KafkaError::Timeout { cluster, .. }
            | KafkaError::StillDown { cluster, .. }
            | KafkaError::LogRewound { cluster, .. }
            | KafkaError::Broker { cluster, .. }
            | KafkaError::Config { cluster, .. }
            | KafkaError::InvalidArgument { cluster, .. } => Some(cluster),
            KafkaError::Decode { .. } => None,
        }
    }

    /// True for authorization failures (e.g. a fence denying a write).
    pub fn is_authorization_denied(&self) -> bool {
        matches!(self, KafkaError::AuthorizationDenied { .. })
    }
}

fn undecodable_help(reason: &str) -> &'static str {
    if reason.contains("codec") {
        "kafka-dr is built with gzip, snappy, lz4 and zstd; a producer using another codec \
         wrote this batch: read it with Kafka's kafka-dump-log to see the codec"
    } else {
        "the batch on the broker is damaged or truncated: inspect the segment with Kafka's \
         kafka-dump-log --deep-iteration, and restore the partition from its replica"
    }
}

/// An error's first clause: without librdkafka's last error and the help, which the
/// first report of it carried.
fn short(e: &KafkaError) -> String {
    let text = e.to_string();
    let cut = [" (last error:", "; help:"]
        .iter()
        .filter_map(|m| text.find(m))
        .min()
        .unwrap_or(text.len());
    text[..cut].to_string()
}

/// How long an unreachable cluster was tried: "within 10s", or "(every broker refused the
/// connection within 0.5s)".
struct Waited(Duration, bool);

impl fmt::Display for Waited {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tried = Secs(Duration::from_millis(self.0.as_millis() as u64 / 100 * 100));
        if self.1 {
            write!(f, "(no broker accepts connections: gave up after {tried})")
        } else {
            write!(f, "within {tried}")
        }
    }
}

/// Formats a duration for humans ("10 s", "2.5 s"): `crate::human::duration`.
struct Secs(Duration);

impl fmt::Display for Secs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&crate::human::duration(self.0))
    }
}

struct Detail<'a>(&'a Option<String>);

impl fmt::Display for Detail<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(d) if !d.is_empty() => write!(f, " (last error: {d})"),
            _ => Ok(()),
        }
    }
}

struct Partition(Option<i32>);

impl fmt::Display for Partition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(p) => write!(f, " partition {p}"),
            None => Ok(()),
        }
    }
}

/// What an error is about, used to say which resource an authorization failure was on.
#[derive(Debug, Clone)]
pub(crate) enum Resource {
    Cluster,
    Topic(String, Option<i32>),
    Group(String),
    /// Unknown or several; the message says "the requested resources".
    Unspecified,
}

impl fmt::Display for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Resource::Cluster => write!(f, "the cluster resource"),
            Resource::Topic(t, Some(p)) => write!(f, "topic `{t}` (partition {p})"),
            Resource::Topic(t, None) => write!(f, "topic `{t}`"),
            Resource::Group(g) => write!(f, "group `{g}`"),
            Resource::Unspecified => write!(f, "the requested resources"),
        }
    }
}

/// Masks secret configuration values in strings that come back from librdkafka or brokers.
///
/// Secrets are the values of keys that look secret (password, secret, token, jaas, key
/// material). Values shorter than 4 characters are not masked, because masking them
/// would garble every message while such a value is very unlikely to be echoed.
#[derive(Clone, Default)]
pub(crate) struct Redactor {
    secrets: Vec<String>,
}

impl fmt::Debug for Redactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Redactor({} secret(s))", self.secrets.len())
    }
}

impl Redactor {
    pub(crate) fn from_config<'a>(config: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let mut secrets: Vec<String> = config
            .into_iter()
            .filter(|(k, v)| is_secret_key(k) && v.len() >= 4)
            .map(|(_, v)| v.to_string())
            .collect();
        // Longest first, so that a secret containing another is masked whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        secrets.dedup();
        Redactor { secrets }
    }

    pub(crate) fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for s in &self.secrets {
            if out.contains(s.as_str()) {
                out = out.replace(s.as_str(), "***");
            }
        }
        out
    }
}

/// The error for a client configuration librdkafka refused. rdkafka's own message ends
/// with the value given (`Client config error: No such configuration property:
/// "sasl.passwd" sasl.passwd <value>`), and a value under a mistyped or secret key is
/// likely a password: it is never shown.
pub(crate) fn config_error(
    cluster: &str,
    e: &rdkafka::error::KafkaError,
    redactor: &Redactor,
) -> KafkaError {
    let message = match e {
        rdkafka::error::KafkaError::ClientConfig(_, desc, key, value) => {
            let unknown = desc.contains("No such configuration property");
            let desc = if !value.is_empty() && (unknown || is_secret_key(key)) {
                desc.replace(value.as_str(), "***")
            } else {
                desc.clone()
            };
            if desc.contains(key.as_str()) {
                desc
            } else {
                format!("{desc} (property `{key}`)")
            }
        }
        other => other.to_string(),
    };
    KafkaError::Config {
        cluster: cluster.to_string(),
        message: redactor.redact(&message),
    }
}

/// True for configuration keys whose values must never be shown.
pub(crate) fn is_secret_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    [
        "password",
        "secret",
        "token",
        "jaas",
        "key.pem",
        "keystore",
        "private",
        "credential",
    ]
    .iter()
    .any(|needle| k.contains(needle))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes() {
        let unreachable = KafkaError::Unreachable {
            cluster: "dc1".into(),
            bootstrap: "127.0.0.1:1".into(),
            timeout: Duration::from_secs(5),
            refused: false,
            detail: None,
        };
        assert_eq!(unreachable.exit_code(), ExitCode::Unreachable);
        let timeout = KafkaError::Timeout {
            cluster: "dc1".into(),
            operation: "ListOffsets".into(),
            timeout: Duration::from_millis(2500),
            detail: Some("x".into()),
        };
        assert_eq!(timeout.exit_code(), ExitCode::Unreachable);
        let group = KafkaError::GroupNotEmpty {
            cluster: "dc2".into(),
            group: "billing".into(),
            members: 3,
        };
        assert_eq!(group.exit_code(), ExitCode::Failure);
    }

    #[test]
    fn messages_name_what_and_where() {
        let group = KafkaError::GroupNotEmpty {
            cluster: "dc2".into(),
            group: "billing".into(),
            members: 3,
        };
        let msg = group.to_string();
        assert!(msg.starts_with("group `billing` has 3 active member(s) on `dc2`; help: stop"));
        let e = KafkaError::Unreachable {
            cluster: "dc1".into(),
            bootstrap: "127.0.0.1:1".into(),
            timeout: Duration::from_millis(2500),
            refused: false,
            detail: Some("Connection refused".into()),
        };
        let msg = e.to_string();
        assert!(msg.contains("`dc1` at 127.0.0.1:1 within 2.5 s (last error: Connection refused)"));
        assert!(msg.contains("help: check that the cluster is up"));
        let e = KafkaError::UnknownTopicOrPartition {
            cluster: "dc1".into(),
            operation: "ListOffsets".into(),
            topic: "orders".into(),
            partition: Some(7),
        };
        assert!(e
            .to_string()
            .contains("topic `orders` partition 7 does not exist"));
    }

    #[test]
    fn redactor_masks_secret_values_only() {
        let r = Redactor::from_config([
            ("sasl.username", "admin"),
            ("sasl.password", "s3cr3t-pw"),
            ("bootstrap.servers", "127.0.0.1:9092"),
            ("ssl.key.password", "abc"),
        ]);
        assert_eq!(
            r.redact("login admin with s3cr3t-pw at 127.0.0.1:9092"),
            "login admin with *** at 127.0.0.1:9092"
        );
        // Too short to be masked safely.
        assert_eq!(r.redact("abc"), "abc");
        assert!(!format!("{r:?}").contains("s3cr3t"));
    }
}
