//! Errors of the Connect REST client. Each says which Connect (cluster name and URL,
//! never with credentials), what failed, and what to do next.

use std::sync::Arc;
use std::time::Duration;

use thiserror::Error;

use super::model::ConnectorStatus;
use crate::exit_code::ExitCode;

#[derive(Debug, Error)]
pub enum ConnectError {
    /// The configured URL cannot be used.
    #[error(
        "Connect URL `{url}` of cluster `{cluster}` is not usable: {reason}; \
         help: give an http:// or https:// URL such as http://connect-host:8083"
    )]
    InvalidUrl {
        cluster: Arc<str>,
        url: Arc<str>,
        reason: String,
    },

    /// No answer: connection refused, DNS failure, TLS failure, or no reply in time.
    #[error(
        "Connect at `{url}` (cluster `{cluster}`) is unreachable: {detail} (timeout {}); \
         help: is the Connect worker up, and is `{url}` its REST listener?",
        fmt_duration(*timeout)
    )]
    Unreachable {
        cluster: Arc<str>,
        url: Arc<str>,
        timeout: Duration,
        detail: String,
    },

    /// The TLS handshake with the worker failed: its certificate is not trusted (wrong or
    /// missing `ca_file`), its name does not match, or it wants a client certificate.
    #[error(
        "TLS handshake with Connect at `{url}` (cluster `{cluster}`) failed: {detail}; \
         help: set `ca_file` of cluster `{cluster}`'s `connect` in the topology to the CA that \
         signed the worker's certificate, and `client_cert_file`/`client_key_file` when the \
         worker asks for a client certificate"
    )]
    Tls {
        cluster: Arc<str>,
        url: Arc<str>,
        detail: String,
    },

    /// The CA, client certificate or key given for the worker cannot be used.
    #[error(
        "cannot use the TLS files for Connect at `{url}` (cluster `{cluster}`): {reason}; \
         help: `ca_file` takes PEM certificates, `client_cert_file` a PEM certificate chain \
         and `client_key_file` its unencrypted PEM (PKCS#8, PKCS#1 or SEC1) private key"
    )]
    TlsSetup {
        cluster: Arc<str>,
        url: Arc<str>,
        reason: String,
    },

    /// The worker refused our credentials (HTTP 401) or the request (HTTP 403).
    #[error(
        "Connect at `{url}` (cluster `{cluster}`) refused {method} {path}: HTTP {status}: {message}; \
         help: {}",
        if *status == 401 {
            format!("check `username` and `password` (HTTP basic auth) under `connect` of cluster `{cluster}` in the topology")
        } else {
            "the worker's REST security extension denies this user the request; grant it, or use another user".to_string()
        }
    )]
    Unauthorized {
        cluster: Arc<str>,
        url: Arc<str>,
        method: &'static str,
        path: String,
        status: u16,
        message: String,
    },

    /// The worker answered with an error the other variants do not cover.
    #[error(
        "Connect at `{url}` (cluster `{cluster}`) refused {method} {path}: HTTP {status}{}: {message}",
        error_code.map(|c| format!(" (error_code {c})")).unwrap_or_default()
    )]
    Http {
        cluster: Arc<str>,
        url: Arc<str>,
        method: &'static str,
        path: String,
        status: u16,
        /// `error_code` of the worker's `{"error_code":..., "message":...}` body.
        error_code: Option<i32>,
        message: String,
    },

    /// The connector does not exist on this Connect cluster.
    #[error(
        "connector `{connector}` not found on Connect at `{url}` (cluster `{cluster}`): {message}; \
         help: list the connectors with GET {url}/connectors, and check the topology's connector names"
    )]
    NotFound {
        cluster: Arc<str>,
        url: Arc<str>,
        connector: String,
        message: String,
    },

    /// `POST /connectors` for a name that is taken.
    #[error(
        "connector `{connector}` already exists on Connect at `{url}` (cluster `{cluster}`); \
         help: update it with PUT /connectors/{connector}/config, or delete it first"
    )]
    AlreadyExists {
        cluster: Arc<str>,
        url: Arc<str>,
        connector: String,
    },

    /// The connector is not in the state the operation needs.
    #[error(
        "cannot {operation} connector `{connector}` on Connect at `{url}` (cluster `{cluster}`): \
         it is {state}; help: {help}"
    )]
    WrongState {
        cluster: Arc<str>,
        url: Arc<str>,
        connector: String,
        /// What was attempted, e.g. "alter the offsets of".
        operation: &'static str,
        state: String,
        help: &'static str,
    },

    /// The worker's Kafka version lacks an endpoint kafka-dr needs.
    #[error(
        "Connect at `{url}` (cluster `{cluster}`) runs {version}, which has no {feature} \
         (needs {needs}+); help: {help}"
    )]
    Unsupported {
        cluster: Arc<str>,
        url: Arc<str>,
        /// e.g. "Kafka 3.4.0".
        version: String,
        feature: &'static str,
        /// The first Kafka release that has it, e.g. "3.6".
        needs: &'static str,
        help: &'static str,
    },

    /// A 2xx answer kafka-dr could not read.
    #[error(
        "Connect at `{url}` (cluster `{cluster}`) sent an unreadable answer to {method} {path}: {detail}; \
         help: is `{url}` really a Kafka Connect REST listener (and not a proxy page)?"
    )]
    InvalidResponse {
        cluster: Arc<str>,
        url: Arc<str>,
        method: &'static str,
        path: String,
        detail: String,
    },

    /// `wait_for_state` gave up; `last` is the last status read (if any was).
    #[error(
        "connector `{connector}` on Connect at `{url}` (cluster `{cluster}`) did not reach {wanted} \
         within {}: {}; help: check the worker's log and GET {url}/connectors/{connector}/status",
        fmt_duration(*waited),
        last.as_ref().map(|s| format!("last status {}", s.summary())).unwrap_or_else(|| "no status was ever reported".into())
    )]
    WaitTimeout {
        cluster: Arc<str>,
        url: Arc<str>,
        connector: String,
        wanted: super::model::TargetState,
        waited: Duration,
        last: Option<Box<ConnectorStatus>>,
    },

    /// The connector or one of its tasks FAILED while kafka-dr waited for it to run.
    #[error(
        "connector `{connector}` on Connect at `{url}` (cluster `{cluster}`) failed while waiting for {wanted}: {}; \
         help: read the full trace with GET {url}/connectors/{connector}/status, fix the cause, then restart it",
        status.failures().join("; ")
    )]
    ConnectorFailed {
        cluster: Arc<str>,
        url: Arc<str>,
        connector: String,
        wanted: super::model::TargetState,
        status: Box<ConnectorStatus>,
    },

    /// A MirrorSourceConnector offset that cannot be built or read.
    #[error("invalid MirrorSourceConnector offset: {detail}")]
    InvalidMirrorOffset { detail: String },
}

impl ConnectError {
    pub fn exit_code(&self) -> ExitCode {
        match self {
            ConnectError::Unreachable { .. } => ExitCode::Unreachable,
            _ => ExitCode::Failure,
        }
    }

    /// True for [`ConnectError::NotFound`].
    pub fn is_not_found(&self) -> bool {
        matches!(self, ConnectError::NotFound { .. })
    }
}

fn fmt_duration(d: Duration) -> String {
    crate::human::duration(d)
}

/// The `{"error_code": ..., "message": ...}` body Connect sends with every error status.
/// Returns (error_code, message); a body that is not that JSON becomes the message,
/// shortened to one line.
pub(crate) fn parse_error_body(body: &[u8]) -> (Option<i32>, String) {
    #[derive(serde::Deserialize)]
    struct Wire {
        error_code: Option<i32>,
        message: Option<String>,
    }
    if let Ok(w) = serde_json::from_slice::<Wire>(body) {
        if w.error_code.is_some() || w.message.is_some() {
            return (w.error_code, w.message.unwrap_or_default());
        }
    }
    let text = String::from_utf8_lossy(body);
    let one_line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let short: String = one_line.chars().take(300).collect();
    if short.is_empty() {
        (None, "(empty body)".into())
    } else if short.len() < one_line.len() {
        (None, format!("{short}..."))
    } else {
        (None, short)
    }
}

/// Remove `user:password@` from something that looks like a URL, for error text.
pub(crate) fn redact_userinfo(url: &str) -> String {
    let (scheme, rest) = match url.find("://") {
        Some(i) => (&url[..i + 3], &url[i + 3..]),
        None => ("", url),
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}{}", &rest[at + 1..]),
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies() {
        assert_eq!(
            parse_error_body(br#"{"error_code":404,"message":"Connector foo not found"}"#),
            (Some(404), "Connector foo not found".to_string())
        );
        assert_eq!(
            parse_error_body(br#"{"error_code":409,"message":null}"#),
            (Some(409), String::new())
        );
        assert_eq!(
            parse_error_body(b"<html>\n<body>Bad   Gateway</body></html>"),
            (None, "<html> <body>Bad Gateway</body></html>".to_string())
        );
        assert_eq!(parse_error_body(b""), (None, "(empty body)".to_string()));
        let long = "x".repeat(1000);
        let (_, m) = parse_error_body(long.as_bytes());
        assert_eq!(m.len(), 303);
    }

    #[test]
    fn redaction() {
        assert_eq!(
            redact_userinfo("http://admin:s3cret@connect:8083/x"),
            "http://connect:8083/x"
        );
        assert_eq!(redact_userinfo("https://a@b@h:1"), "https://h:1");
        assert_eq!(redact_userinfo("http://h:1/p@q"), "http://h:1/p@q");
        assert_eq!(redact_userinfo("user:pw@host"), "host");
        assert_eq!(redact_userinfo("http://h:8083"), "http://h:8083");
    }

    #[test]
    fn exit_codes_and_messages() {
        let e = ConnectError::Unreachable {
            cluster: "dc1".into(),
            url: "http://127.0.0.1:1".into(),
            timeout: Duration::from_millis(1500),
            detail: "connection refused".into(),
        };
        assert_eq!(e.exit_code(), ExitCode::Unreachable);
        let text = e.to_string();
        assert!(text.contains("cluster `dc1`"), "{text}");
        assert!(text.contains("timeout 1.5 s"), "{text}");
        assert!(text.contains("help: is the Connect worker up"), "{text}");

        let e = ConnectError::Unsupported {
            cluster: "dc1".into(),
            url: "http://c:8083".into(),
            version: "Kafka 3.4.0".into(),
            feature: "connector offsets API",
            needs: "3.6",
            help: "upgrade the Connect workers",
        };
        assert_eq!(e.exit_code(), ExitCode::Failure);
        assert_eq!(
            e.to_string(),
            "Connect at `http://c:8083` (cluster `dc1`) runs Kafka 3.4.0, which has no connector \
             offsets API (needs 3.6+); help: upgrade the Connect workers"
        );

        let e = ConnectError::Http {
            cluster: "dc2".into(),
            url: "http://c:8083".into(),
            method: "PUT",
            path: "/connectors/x/config".into(),
            status: 400,
            error_code: Some(400),
            message: "Connector configuration is invalid".into(),
        };
        assert_eq!(
            e.to_string(),
            "Connect at `http://c:8083` (cluster `dc2`) refused PUT /connectors/x/config: HTTP 400 \
             (error_code 400): Connector configuration is invalid"
        );
        let e = ConnectError::WaitTimeout {
            cluster: "dc2".into(),
            url: "http://c:8083".into(),
            connector: "x".into(),
            wanted: super::super::model::TargetState::Running,
            waited: Duration::from_secs(30),
            last: None,
        };
        assert!(e
            .to_string()
            .contains("within 30 s: no status was ever reported"));
    }
}
