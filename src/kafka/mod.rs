//! Everything kafka-dr does to a Kafka cluster: admin, offsets, ACLs, group offsets,
//! record reading and producing, fingerprints, MM2 record decoding.
//!
//! This is the ONLY module of the crate that imports rdkafka / rdkafka-sys, and
//! `ffi.rs` (private) holds the crate's only `unsafe` code: the librdkafka admin calls
//! rust-rdkafka does not expose. It must not touch the journal, the terminal or the
//! topology file: callers give it a librdkafka configuration map and get typed results
//! and typed errors (`KafkaError`) back.
//!
//! The API is synchronous: every call takes a timeout and does not block much longer
//! (one short poll interval at most). Nothing here commits consumer offsets except
//! `alter_group_offsets`, and nothing auto-creates topics (`allow.auto.create.topics` is
//! forced off). librdkafka never logs to stderr: its log lines and client errors are
//! collected (redacted) and can be read with `KafkaClient::diagnostics`.

mod batch;
mod config_check;
pub mod connect_offsets;
mod error;
mod ffi;
mod fingerprint;
pub mod mm2;
mod pool;
mod records;
mod types;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, ResourceSpecifier, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::{Offset, TopicPartitionList};
use rdkafka_sys::rd_kafka_resp_err_t as E;

pub use batch::PartitionFingerprints;
pub use config_check::{check_client_config, check_client_setting, ConfigRejection};
pub use error::KafkaError;
pub use fingerprint::{content_hash, fingerprint, Fingerprint, RecordedFingerprint, RUN_BEFORE};
pub use pool::ClusterPool;
pub use types::{
    AclBinding, AclFilter, AclOperation, AclPermission, Broker, Checkpoint, ClusterDescription,
    ClusterMetadata, CommittedRuns, Delivered, GroupDescription, GroupListing, GroupMember,
    GroupState, GroupType, Isolation, OffsetSync, PartitionWatermarks, PatternType, ProduceRecord,
    ReadSummary, Record, RecordHeader, ResourceType, TimestampType, TopicMeta, TopicMetaError,
};

use error::{Redactor, Resource};
use ffi::{MainEvent, RdError, Rk};

/// When set, librdkafka's informational log lines are kept too (see `diagnostics`).
static VERBOSE: AtomicBool = AtomicBool::new(false);

/// Keep librdkafka's informational log lines (not only warnings and errors) in
/// `KafkaClient::diagnostics`. Affects clients created afterwards.
pub fn set_verbose(verbose: bool) {
    VERBOSE.store(verbose, Ordering::Relaxed);
}

/// How long a connection attempt goes on after librdkafka reported every broker down
/// (refused or unresolvable), so that a broker in the middle of a restart can answer.
const REFUSED_GRACE: Duration = Duration::from_millis(500);

/// How many diagnostic lines a client keeps.
const DIAGNOSTICS_KEPT: usize = 200;

/// The most partitions one ListOffsets request carries (see `list_offsets_checked`).
const LIST_OFFSETS_BATCH: usize = 500;

/// A connection to one Kafka cluster.
///
/// Holds one librdkafka handle for admin requests (through rust-rdkafka's `AdminClient`);
/// record reads and writes use short-lived consumers and producers built from the same
/// configuration. Safe to share between threads.
pub struct KafkaClient {
    cluster: String,
    bootstrap: String,
    /// The librdkafka configuration. Contains secrets: never printed (see `Debug`).
    config: Vec<(String, String)>,
    redactor: Redactor,
    admin: AdminClient<DefaultClientContext>,
    diagnostics: Mutex<VecDeque<String>>,
    /// The last client-level (connection) error librdkafka reported, and when.
    last_client_error: Mutex<Option<(Instant, RdError)>>,
}

impl std::fmt::Debug for KafkaClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaClient")
            .field("cluster", &self.cluster)
            .field("bootstrap", &self.bootstrap)
            .finish_non_exhaustive()
    }
}

/// Error codes that mean "no broker could be talked to".
fn is_unreachable_code(code: i32) -> bool {
    [
        E::RD_KAFKA_RESP_ERR__TRANSPORT,
        E::RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN,
        E::RD_KAFKA_RESP_ERR__RESOLVE,
    ]
    .iter()
    .any(|&c| ffi::code(c) == code)
}

fn is_timeout_code(code: i32) -> bool {
    [
        E::RD_KAFKA_RESP_ERR__TIMED_OUT,
        E::RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
        E::RD_KAFKA_RESP_ERR__TIMED_OUT_QUEUE,
    ]
    .iter()
    .any(|&c| ffi::code(c) == code)
}

fn is_authentication_code(code: i32) -> bool {
    code == ffi::code(E::RD_KAFKA_RESP_ERR__AUTHENTICATION)
        || code == ffi::code(E::RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED)
}

fn is_tls_code(code: i32) -> bool {
    code == ffi::code(E::RD_KAFKA_RESP_ERR__SSL)
}

/// Why a fetched batch cannot be decoded, for the consumer error codes that mean it.
fn undecodable_reason(code: i32) -> Option<&'static str> {
    if code == ffi::code(E::RD_KAFKA_RESP_ERR__NOT_IMPLEMENTED) {
        Some("compression codec or record format not supported by this build")
    } else if code == ffi::code(E::RD_KAFKA_RESP_ERR__BAD_COMPRESSION) {
        Some("the batch does not decompress (corrupt, or an unsupported codec)")
    } else if code == ffi::code(E::RD_KAFKA_RESP_ERR__BAD_MSG)
        || code == ffi::code(E::RD_KAFKA_RESP_ERR_INVALID_MSG)
        || code == ffi::code(E::RD_KAFKA_RESP_ERR_INVALID_RECORD)
    {
        Some("corrupt batch")
    } else {
        None
    }
}

fn is_unknown_topic_code(code: i32) -> bool {
    [
        E::RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART,
        E::RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC,
        E::RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION,
        E::RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_ID,
    ]
    .iter()
    .any(|&c| ffi::code(c) == code)
}

/// Answers that may come from a stale librdkafka metadata cache (see
/// `KafkaClient::list_offsets_checked`).
fn is_cache_suspect_code(code: i32) -> bool {
    code == ffi::code(E::RD_KAFKA_RESP_ERR__NOENT)
        || code == ffi::code(E::RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE)
        || is_unknown_topic_code(code)
}

/// Group-level answers to an offset commit that mean "the group has active members".
fn is_active_group_code(code: i32) -> bool {
    [
        E::RD_KAFKA_RESP_ERR_NON_EMPTY_GROUP,
        E::RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID,
        E::RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION,
        E::RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS,
        E::RD_KAFKA_RESP_ERR_STALE_MEMBER_EPOCH,
        E::RD_KAFKA_RESP_ERR_FENCED_MEMBER_EPOCH,
    ]
    .iter()
    .any(|&c| ffi::code(c) == code)
}

/// librdkafka's handshake error, shortened to what an operator acts on: OpenSSL's
/// "error:0A000086:SSL routines::certificate verify failed: broker certificate could not
/// be verified, verify that ssl.ca.location is correctly configured ..." keeps its reason
/// and loses the install advice meant for another platform.
fn tls_detail(message: &str) -> String {
    let m = message
        .split_once("SSL handshake failed: ")
        .map_or(message, |(_, rest)| rest);
    // The librdkafka broker prefix ("ssl://127.0.0.1:9093/bootstrap: ") says nothing the
    // error does not already say.
    let m = m.trim();
    let lower = m.to_ascii_lowercase();
    let reason = if lower.contains("certificate verify failed") {
        "the broker's certificate is not signed by a CA this client trusts (certificate verify failed)"
    } else if lower.contains("certificate required") || lower.contains("alert handshake failure") {
        "the broker requires a client certificate and got none it accepts"
    } else if lower.contains("unknown ca") || lower.contains("bad certificate") {
        "the broker refused our client certificate (not signed by a CA it trusts)"
    } else if lower.contains("wrong version number") || lower.contains("packet length too long") {
        "the listener does not speak TLS (is it a PLAINTEXT or SASL_PLAINTEXT port?)"
    } else if lower.contains("hostname") || lower.contains("host name") {
        "the broker's certificate does not match its host name (ssl.endpoint.identification.algorithm)"
    } else {
        return m.to_string();
    };
    format!("{reason}; OpenSSL said: {}", first_clause(m))
}

/// `error:0A000086:SSL routines::certificate verify failed: broker certificate ...` ->
/// `error:0A000086:SSL routines::certificate verify failed`.
fn first_clause(m: &str) -> &str {
    match m.find("::") {
        Some(i) => match m[i + 2..].find(": ") {
            Some(j) => &m[..i + 2 + j],
            None => m,
        },
        None => m.split(" (after ").next().unwrap_or(m),
    }
}

/// Polls a future on the current thread until it completes or the timeout passes.
///
/// rust-rdkafka's admin futures are completed by its own polling thread through a
/// channel, so no async runtime is needed; this works inside or outside a tokio runtime.
fn block_on_timeout<F: Future>(fut: F, timeout: Duration) -> Option<F::Output> {
    struct ThreadWaker(std::thread::Thread);
    impl Wake for ThreadWaker {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(ThreadWaker(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut fut = pin!(fut);
    let deadline = crate::limits::deadline(Instant::now(), timeout);
    loop {
        if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return Some(out);
        }
        let now = Instant::now();
        if now >= deadline {
            return None;
        }
        std::thread::park_timeout(deadline - now);
    }
}

/// Builds a rust-rdkafka configuration: the caller's map, then our forced settings.
fn client_config(config: &[(String, String)], forced: &[(&str, &str)]) -> ClientConfig {
    let mut cc = ClientConfig::new();
    if !config.iter().any(|(k, _)| k == "client.id") {
        cc.set("client.id", "kafka-dr");
    }
    for (k, v) in config {
        cc.set(k, v);
    }
    for (k, v) in forced {
        cc.set(*k, *v);
    }
    cc.set_log_level(if VERBOSE.load(Ordering::Relaxed) {
        RDKafkaLogLevel::Info
    } else {
        RDKafkaLogLevel::Warning
    });
    cc
}

impl KafkaClient {
    /// Connects to a cluster and checks, within `timeout`, that a broker answers and
    /// accepts our credentials.
    ///
    /// `config` is a librdkafka map that includes `bootstrap.servers` and the security
    /// settings. A wrong password is reported as `AuthenticationFailed` (as soon as the
    /// broker rejects it), a cluster that cannot be reached as `Unreachable` (when the
    /// timeout expires; librdkafka itself would retry forever).
    pub fn connect(
        cluster_name: &str,
        config: impl IntoIterator<Item = (String, String)>,
        timeout: Duration,
    ) -> Result<KafkaClient, KafkaError> {
        let client = KafkaClient::open(cluster_name, config)?;
        client.probe(timeout)?;
        Ok(client)
    }

    /// Builds the client without contacting the cluster (librdkafka connects in the
    /// background); `probe` says whether it answers.
    fn open(
        cluster_name: &str,
        config: impl IntoIterator<Item = (String, String)>,
    ) -> Result<KafkaClient, KafkaError> {
        let config: Vec<(String, String)> = config.into_iter().collect();
        let redactor = Redactor::from_config(config.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let bootstrap = config
            .iter()
            .rev()
            .find(|(k, _)| k == "bootstrap.servers" || k == "metadata.broker.list")
            .map(|(_, v)| v.clone())
            .ok_or_else(|| KafkaError::Config {
                cluster: cluster_name.to_string(),
                message: "`bootstrap.servers` is not set".to_string(),
            })?;
        let cc = client_config(&config, &[("allow.auto.create.topics", "false")]);
        let admin: AdminClient<DefaultClientContext> = cc
            .create()
            .map_err(|e| error::config_error(cluster_name, &e, &redactor))?;
        let client = KafkaClient {
            cluster: cluster_name.to_string(),
            bootstrap,
            config,
            redactor,
            admin,
            diagnostics: Mutex::new(VecDeque::new()),
            last_client_error: Mutex::new(None),
        };
        Ok(client)
    }

    /// The cluster's name in the topology.
    pub fn cluster_name(&self) -> &str {
        &self.cluster
    }

    /// The bootstrap servers this client was given.
    pub fn bootstrap(&self) -> &str {
        &self.bootstrap
    }

    /// Recent librdkafka warnings, errors (and with `set_verbose`, log lines) of this
    /// client, oldest first, with secrets masked. For `--verbose` output and bug reports.
    pub fn diagnostics(&self) -> Vec<String> {
        self.drain_main_queue();
        self.diagnostics
            .lock()
            .map(|d| d.iter().cloned().collect())
            .unwrap_or_default()
    }

    fn rk(&self) -> Rk<'_> {
        Rk::of(self.admin.inner())
    }

    fn remember(&self, line: String) {
        if let Ok(mut d) = self.diagnostics.lock() {
            if d.len() >= DIAGNOSTICS_KEPT {
                d.pop_front();
            }
            d.push_back(line);
        }
    }

    /// Moves pending client errors and log lines from librdkafka into `diagnostics` and
    /// returns the errors among them.
    fn drain_main_queue(&self) -> Vec<RdError> {
        let mut errors = Vec::new();
        for ev in ffi::drain_main_queue(self.rk(), 10_000) {
            match ev {
                MainEvent::Error { error, fatal } => {
                    let msg = self.redactor.redact(&error.message);
                    self.remember(format!(
                        "{}: {}error {}: {msg}",
                        self.cluster,
                        if fatal { "fatal " } else { "" },
                        error.name
                    ));
                    let error = RdError {
                        message: msg,
                        ..error
                    };
                    if let Ok(mut last) = self.last_client_error.lock() {
                        *last = Some((Instant::now(), error.clone()));
                    }
                    errors.push(error);
                }
                MainEvent::Log {
                    level,
                    facility,
                    message,
                } => {
                    self.remember(format!(
                        "{}: librdkafka[{level}] {facility}: {}",
                        self.cluster,
                        self.redactor.redact(&message)
                    ));
                }
            }
        }
        errors
    }

    /// Waits until a broker answers a metadata request, watching for authentication
    /// errors meanwhile.
    fn probe(&self, timeout: Duration) -> Result<(), KafkaError> {
        let started = Instant::now();
        let deadline = crate::limits::deadline(started, timeout);
        let mut last: Option<RdError> = None;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let slice = left
                .min(Duration::from_millis(300))
                .max(Duration::from_millis(1));
            let result = ffi::metadata(self.rk(), false, slice);
            let client_errors = self.drain_main_queue();
            if let Some(auth) = client_errors
                .iter()
                .find(|e| is_authentication_code(e.code))
            {
                return Err(KafkaError::AuthenticationFailed {
                    cluster: self.cluster.clone(),
                    detail: auth.message.clone(),
                });
            }
            // A failed handshake fails the same way on every retry: say so at once.
            if let Some(tls) = client_errors.iter().find(|e| is_tls_code(e.code)) {
                return Err(self.tls_error(&tls.message));
            }
            // Prefer a concrete connection error over "all brokers are down".
            if let Some(e) = client_errors
                .iter()
                .rev()
                .find(|e| e.code != ffi::code(E::RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN))
                .or(client_errors.last())
            {
                last = Some(e.clone());
            }
            // The request failing with a transport error (rather than timing out) means
            // no broker could be connected to: refused, closed at once, or a name that
            // does not resolve. A black-holed address makes it time out instead, and is
            // waited for until the timeout. A refusing cluster is dead, not slow: waiting
            // out the timeout would only add to the RTO. The grace period lets a broker
            // that is just restarting answer.
            let down_now = matches!(&result, Err(e) if is_unreachable_code(e.code));
            match result {
                Ok(_) => return Ok(()),
                Err(e) if is_unreachable_code(e.code) || is_timeout_code(e.code) => {
                    let refused = down_now && started.elapsed() >= REFUSED_GRACE;
                    if refused || Instant::now() >= deadline {
                        return Err(KafkaError::Unreachable {
                            cluster: self.cluster.clone(),
                            bootstrap: self.bootstrap.clone(),
                            timeout: if refused { started.elapsed() } else { timeout },
                            refused,
                            detail: last.map(|e| e.message),
                        });
                    }
                    if down_now {
                        // The request failed at once: do not spin until the next attempt.
                        std::thread::sleep(Duration::from_millis(50).min(left));
                    }
                }
                Err(e) => {
                    return Err(self.fail(
                        "connecting (metadata request)",
                        Resource::Cluster,
                        timeout,
                        e,
                    ))
                }
            }
        }
    }

    fn tls_error(&self, message: &str) -> KafkaError {
        KafkaError::Tls {
            cluster: self.cluster.clone(),
            bootstrap: self.bootstrap.clone(),
            detail: tls_detail(message),
        }
    }

    /// Turns a librdkafka/broker error into a `KafkaError` with our context.
    fn fail(
        &self,
        operation: &str,
        resource: Resource,
        timeout: Duration,
        e: RdError,
    ) -> KafkaError {
        let cluster = self.cluster.clone();
        let message = self.redactor.redact(&e.message);
        let code = e.code;
        if is_authentication_code(code) {
            return KafkaError::AuthenticationFailed {
                cluster,
                detail: message,
            };
        }
        let authz_resource = match code {
            c if c == ffi::code(E::RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED) => {
                Some(Resource::Cluster)
            }
            c if c == ffi::code(E::RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED) => {
                Some(match &resource {
                    Resource::Topic(..) => resource.clone(),
                    _ => Resource::Unspecified,
                })
            }
            c if c == ffi::code(E::RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED) => {
                Some(match &resource {
                    Resource::Group(_) => resource.clone(),
                    _ => Resource::Unspecified,
                })
            }
            c if c == ffi::code(E::RD_KAFKA_RESP_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED)
                || c == ffi::code(E::RD_KAFKA_RESP_ERR_DELEGATION_TOKEN_AUTHORIZATION_FAILED) =>
            {
                Some(Resource::Unspecified)
            }
            _ => None,
        };
        if let Some(res) = authz_resource {
            return KafkaError::AuthorizationDenied {
                cluster,
                operation: operation.to_string(),
                resource: res.to_string(),
                detail: message,
            };
        }
        if is_unknown_topic_code(code) {
            if let Resource::Topic(topic, partition) = resource {
                return KafkaError::UnknownTopicOrPartition {
                    cluster,
                    operation: operation.to_string(),
                    topic,
                    partition,
                };
            }
        }
        if is_tls_code(code) {
            return self.tls_error(&message);
        }
        if let Some(reason) = undecodable_reason(code) {
            return KafkaError::Undecodable {
                cluster,
                operation: operation.to_string(),
                reason,
                detail: message,
            };
        }
        if is_unreachable_code(code) || is_timeout_code(code) {
            // Look for a better explanation among the client's own errors.
            let client_errors = self.drain_main_queue();
            if let Some(auth) = client_errors
                .iter()
                .find(|e| is_authentication_code(e.code))
            {
                return KafkaError::AuthenticationFailed {
                    cluster,
                    detail: auth.message.clone(),
                };
            }
            if let Some(tls) = client_errors.iter().find(|e| is_tls_code(e.code)) {
                return self.tls_error(&tls.message);
            }
            // A recent "cannot connect" from librdkafka means the cluster is unreachable,
            // even when the request itself only said "timed out".
            let recent = self
                .last_client_error
                .lock()
                .ok()
                .and_then(|l| l.clone())
                .filter(|(at, _)| at.elapsed() <= timeout.saturating_add(Duration::from_secs(30)))
                .map(|(_, e)| e);
            let detail = client_errors
                .last()
                .cloned()
                .or(recent.clone())
                .map(|e| e.message)
                .or(Some(message));
            let connection_lost = recent.is_some_and(|e| is_unreachable_code(e.code));
            if is_unreachable_code(code) || connection_lost {
                return KafkaError::Unreachable {
                    cluster,
                    bootstrap: self.bootstrap.clone(),
                    timeout,
                    refused: false,
                    detail,
                };
            }
            return KafkaError::Timeout {
                cluster,
                operation: operation.to_string(),
                timeout,
                detail,
            };
        }
        KafkaError::Broker {
            cluster,
            operation: operation.to_string(),
            code,
            code_name: e.name,
            message,
        }
    }

    fn invalid(&self, operation: &str, message: impl Into<String>) -> KafkaError {
        KafkaError::InvalidArgument {
            cluster: self.cluster.clone(),
            operation: operation.to_string(),
            message: message.into(),
        }
    }

    // -----------------------------------------------------------------------------------
    // Cluster
    // -----------------------------------------------------------------------------------

    /// The cluster id.
    pub fn cluster_id(&self, timeout: Duration) -> Result<String, KafkaError> {
        let started = Instant::now();
        match ffi::cluster_id(self.rk(), timeout) {
            Some(id) => Ok(id),
            None if started.elapsed() < timeout => Err(KafkaError::Broker {
                cluster: self.cluster.clone(),
                operation: "reading the cluster id".into(),
                code: -1,
                code_name: "UNSUPPORTED".into(),
                message: "the broker did not report a cluster id (Kafka older than 0.10.1?)".into(),
            }),
            None => Err(self.fail(
                "reading the cluster id",
                Resource::Cluster,
                timeout,
                RdError::timed_out("the cluster id"),
            )),
        }
    }

    /// The topic id of each of `topics` that exists (DescribeTopics), keyed by name. A
    /// topic deleted and created again under the same name gets a new id, so offsets
    /// recorded for the old id describe another log. A topic the cluster does not know is
    /// left out; a broker without topic ids (before Kafka 2.8) gives `None`.
    pub fn topic_ids(
        &self,
        topics: &[String],
        timeout: Duration,
    ) -> Result<BTreeMap<String, Option<String>>, KafkaError> {
        let mut out = BTreeMap::new();
        if topics.is_empty() {
            return Ok(out);
        }
        let names: Vec<&str> = topics.iter().map(String::as_str).collect();
        let raw = ffi::describe_topic_ids(self.rk(), &names, timeout)
            .map_err(|e| self.fail("DescribeTopics", Resource::Unspecified, timeout, e))?;
        for t in raw {
            if t.err == ffi::code(E::RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) {
                continue;
            }
            if t.err != 0 {
                let topic = t.name.clone();
                return Err(self.fail(
                    "DescribeTopics",
                    Resource::Topic(topic, None),
                    timeout,
                    RdError::from_code(t.err),
                ));
            }
            out.insert(t.name, t.topic_id);
        }
        Ok(out)
    }

    /// Brokers and topics. Topics whose metadata carries an error are listed in
    /// `topic_errors`, not in `topics`.
    pub fn metadata(&self, timeout: Duration) -> Result<ClusterMetadata, KafkaError> {
        let md = ffi::metadata(self.rk(), true, timeout)
            .map_err(|e| self.fail("Metadata", Resource::Cluster, timeout, e))?;
        let mut brokers: Vec<Broker> = md
            .brokers
            .into_iter()
            .map(|(id, host, port)| Broker {
                id,
                host,
                port: u16::try_from(port).unwrap_or(0),
            })
            .collect();
        brokers.sort_by_key(|b| b.id);
        let mut topics = Vec::new();
        let mut topic_errors = Vec::new();
        for t in md.topics {
            if t.err != 0 {
                let e = RdError::from_code(t.err);
                topic_errors.push(TopicMetaError {
                    topic: t.name,
                    code: e.code,
                    code_name: e.name,
                    message: e.message,
                });
                continue;
            }
            let mut partitions: Vec<i32> = t.partitions.iter().map(|(id, _)| *id).collect();
            partitions.sort_unstable();
            topics.push(TopicMeta {
                name: t.name,
                partitions,
            });
        }
        topics.sort_by(|a, b| a.name.cmp(&b.name));
        topic_errors.sort_by(|a, b| a.topic.cmp(&b.topic));
        Ok(ClusterMetadata {
            brokers,
            topics,
            topic_errors,
        })
    }

    /// The partitions of one topic (sorted), or `UnknownTopicOrPartition`.
    pub fn topic_partitions(&self, topic: &str, timeout: Duration) -> Result<Vec<i32>, KafkaError> {
        let op = format!("reading the partitions of `{topic}`");
        let md = self.metadata(timeout)?;
        if let Some(t) = md.topic(topic) {
            return Ok(t.partitions.clone());
        }
        if let Some(e) = md.topic_errors.iter().find(|e| e.topic == topic) {
            return Err(self.fail(
                &op,
                Resource::Topic(topic.to_string(), None),
                timeout,
                RdError::with_message(e.code, e.message.clone()),
            ));
        }
        Err(KafkaError::UnknownTopicOrPartition {
            cluster: self.cluster.clone(),
            operation: op,
            topic: topic.to_string(),
            partition: None,
        })
    }

    /// DescribeCluster: cluster id, controller, brokers, and the operations our principal
    /// may perform on the cluster resource (ALTER is what CreateAcls/DeleteAcls need,
    /// DESCRIBE what DescribeAcls needs).
    pub fn describe_cluster(&self, timeout: Duration) -> Result<ClusterDescription, KafkaError> {
        let c = ffi::describe_cluster(self.rk(), timeout)
            .map_err(|e| self.fail("DescribeCluster", Resource::Cluster, timeout, e))?;
        let mut brokers: Vec<Broker> = c
            .nodes
            .into_iter()
            .map(|n| Broker {
                id: n.id,
                host: n.host,
                port: n.port,
            })
            .collect();
        brokers.sort_by_key(|b| b.id);
        Ok(ClusterDescription {
            cluster_id: c.cluster_id,
            controller_id: c.controller.map(|n| n.id),
            brokers,
            authorized_operations: c.authorized_operations,
        })
    }

    // -----------------------------------------------------------------------------------
    // Offsets
    // -----------------------------------------------------------------------------------

    /// Earliest, latest (high watermark) and last stable offsets of each partition, in
    /// input order.
    /// Fails (naming the topic and partition) if any partition fails.
    pub fn watermarks<S: AsRef<str>>(
        &self,
        partitions: &[(S, i32)],
        timeout: Duration,
    ) -> Result<Vec<PartitionWatermarks>, KafkaError> {
        const OP: &str = "ListOffsets (watermarks)";
        if partitions.is_empty() {
            return Ok(Vec::new());
        }
        let deadline = crate::limits::deadline(Instant::now(), timeout);
        let mut unique: Vec<(&str, i32)> =
            partitions.iter().map(|(t, p)| (t.as_ref(), *p)).collect();
        unique.sort_unstable();
        unique.dedup();
        let mut found: HashMap<(String, i32), [Option<i64>; 3]> = HashMap::new();
        // Earliest, latest (read_uncommitted: the high watermark) and latest with
        // read_committed: the last stable offset, below which no transaction is open.
        // The three requests are in flight at once.
        let specs = [(0usize, -2i64, false), (1, -1, false), (2, -1, true)];
        let answers: Vec<Result<Vec<ffi::RawListedOffset>, KafkaError>> =
            std::thread::scope(|scope| {
                let handles: Vec<_> = specs
                    .iter()
                    .map(|&(_, spec, read_committed)| {
                        let unique = &unique;
                        scope.spawn(move || {
                            let queries: Vec<(&str, i32, i64)> =
                                unique.iter().map(|&(t, p)| (t, p, spec)).collect();
                            self.list_offsets_checked(
                                OP,
                                &queries,
                                read_committed,
                                deadline,
                                timeout,
                            )
                        })
                    })
                    .collect();
                handles
                    .into_iter()
                    // A panic in a request is a bug: carry it to the caller's thread.
                    .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
                    .collect()
            });
        for (&(slot, ..), answer) in specs.iter().zip(answers) {
            for a in answer? {
                found.entry((a.topic, a.partition)).or_default()[slot] = Some(a.offset);
            }
        }
        partitions
            .iter()
            .map(|(t, p)| {
                let t = t.as_ref();
                match found.get(&(t.to_string(), *p)) {
                    Some([Some(earliest), Some(latest), Some(stable)]) => Ok(PartitionWatermarks {
                        topic: t.to_string(),
                        partition: *p,
                        earliest: *earliest,
                        latest: *latest,
                        // The LSO never passes the high watermark; the two answers come
                        // from two requests, so a record written in between is clamped.
                        stable: (*stable).min(*latest),
                    }),
                    _ => Err(KafkaError::Broker {
                        cluster: self.cluster.clone(),
                        operation: OP.to_string(),
                        code: -1,
                        code_name: "NO_ANSWER".to_string(),
                        message: format!("no offsets returned for `{t}` partition {p}"),
                    }),
                }
            })
            .collect()
    }

    /// The log end (high watermark) of partitions `0..partitions` of `topic`, by
    /// partition: one ListOffsets request, for a topic whose partition count the caller
    /// knows (e.g. `__consumer_offsets`, read once).
    pub fn log_ends(
        &self,
        topic: &str,
        partitions: i32,
        timeout: Duration,
    ) -> Result<Vec<i64>, KafkaError> {
        let op = format!("ListOffsets (log ends of `{topic}`)");
        let deadline = crate::limits::deadline(Instant::now(), timeout);
        let queries: Vec<(&str, i32, i64)> = (0..partitions).map(|p| (topic, p, -1)).collect();
        let mut ends = vec![None; queries.len()];
        for a in self.list_offsets_checked(&op, &queries, false, deadline, timeout)? {
            if let Some(slot) = usize::try_from(a.partition)
                .ok()
                .and_then(|p| ends.get_mut(p))
            {
                *slot = Some(a.offset);
            }
        }
        ends.into_iter()
            .enumerate()
            .map(|(p, end)| {
                end.ok_or_else(|| KafkaError::Broker {
                    cluster: self.cluster.clone(),
                    operation: op.clone(),
                    code: -1,
                    code_name: "NO_ANSWER".to_string(),
                    message: format!("no offset returned for `{topic}` partition {p}"),
                })
            })
            .collect()
    }

    /// ListOffsets with per-partition errors turned into `KafkaError`s.
    ///
    /// librdkafka finds partition leaders in its metadata cache, where a topic it once saw
    /// missing stays "missing" for `metadata.max.age.ms` (15 min), even after it has been
    /// created (by MM2, say). So on "no leader" / "unknown" answers we refresh the cache
    /// with a full metadata request: if a partition really is missing, the error names it;
    /// otherwise the request is retried once.
    ///
    /// Large lists go out as concurrent requests of at most `LIST_OFFSETS_BATCH`
    /// partitions: librdkafka matches each partition of an answer to its request by a
    /// linear search, so one request for 10,000 partitions costs 10^8 string compares
    /// (seconds of CPU), while batches of 500 cost a twentieth of that and overlap.
    fn list_offsets_checked(
        &self,
        op: &str,
        queries: &[(&str, i32, i64)],
        read_committed: bool,
        deadline: Instant,
        timeout: Duration,
    ) -> Result<Vec<ffi::RawListedOffset>, KafkaError> {
        if queries.len() > LIST_OFFSETS_BATCH {
            let answers: Vec<Result<Vec<ffi::RawListedOffset>, KafkaError>> =
                std::thread::scope(|scope| {
                    let handles: Vec<_> = queries
                        .chunks(LIST_OFFSETS_BATCH)
                        .map(|chunk| {
                            scope.spawn(move || {
                                self.list_offsets_batch(
                                    op,
                                    chunk,
                                    read_committed,
                                    deadline,
                                    timeout,
                                )
                            })
                        })
                        .collect();
                    handles
                        .into_iter()
                        // A panic in a request is a bug: carry it to the caller's thread.
                        .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
                        .collect()
                });
            let mut out = Vec::with_capacity(queries.len());
            for a in answers {
                out.extend(a?);
            }
            return Ok(out);
        }
        self.list_offsets_batch(op, queries, read_committed, deadline, timeout)
    }

    /// One ListOffsets request (see `list_offsets_checked`).
    fn list_offsets_batch(
        &self,
        op: &str,
        queries: &[(&str, i32, i64)],
        read_committed: bool,
        deadline: Instant,
        timeout: Duration,
    ) -> Result<Vec<ffi::RawListedOffset>, KafkaError> {
        let parts: Vec<(&str, i32)> = queries.iter().map(|&(t, p, _)| (t, p)).collect();
        let mut retried = false;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let first_error = match ffi::list_offsets(self.rk(), queries, read_committed, left) {
                Ok(answers) => match answers.iter().find(|a| a.err != 0) {
                    None => return Ok(answers),
                    Some(a) => (
                        RdError::from_code(a.err),
                        Resource::Topic(a.topic.clone(), Some(a.partition)),
                    ),
                },
                Err(e) => (e, self.resource_of(&parts)),
            };
            let (err, res) = first_error;
            if !retried && is_cache_suspect_code(err.code) {
                retried = true;
                let left = deadline.saturating_duration_since(Instant::now());
                if let Some((topic, partition)) = self.find_missing(&parts, left)? {
                    return Err(KafkaError::UnknownTopicOrPartition {
                        cluster: self.cluster.clone(),
                        operation: op.to_string(),
                        topic,
                        partition,
                    });
                }
                continue;
            }
            return Err(self.fail(op, res, timeout, err));
        }
    }

    /// Refreshes librdkafka's metadata cache with a full metadata request and returns the
    /// first of `parts` that does not exist (`None` partition: the whole topic is missing).
    fn find_missing(
        &self,
        parts: &[(&str, i32)],
        timeout: Duration,
    ) -> Result<Option<(String, Option<i32>)>, KafkaError> {
        let md = self.metadata(timeout)?;
        for &(topic, partition) in parts {
            match md.topic(topic) {
                None => return Ok(Some((topic.to_string(), None))),
                Some(t) if !t.partitions.contains(&partition) => {
                    return Ok(Some((topic.to_string(), Some(partition))))
                }
                Some(_) => {}
            }
        }
        Ok(None)
    }

    /// A resource for errors that concern a whole batch of partitions.
    fn resource_of(&self, partitions: &[(&str, i32)]) -> Resource {
        match partitions {
            [(t, p)] => Resource::Topic(t.to_string(), Some(*p)),
            _ => {
                let first = partitions.first().map(|(t, _)| *t);
                if first.is_some() && partitions.iter().all(|(t, _)| Some(*t) == first) {
                    Resource::Topic(first.unwrap_or_default().to_string(), None)
                } else {
                    Resource::Unspecified
                }
            }
        }
    }

    /// The earliest offset whose timestamp is >= `ts_ms` (`None`: no such record). A search
    /// hint only: with out-of-order timestamps it is not exact.
    pub fn offsets_for_timestamp(
        &self,
        topic: &str,
        partition: i32,
        ts_ms: i64,
        timeout: Duration,
    ) -> Result<Option<i64>, KafkaError> {
        const OP: &str = "ListOffsets (by timestamp)";
        if ts_ms < 0 {
            return Err(self.invalid(OP, format!("timestamp {ts_ms} is negative")));
        }
        let deadline = crate::limits::deadline(Instant::now(), timeout);
        let answers =
            self.list_offsets_checked(OP, &[(topic, partition, ts_ms)], false, deadline, timeout)?;
        let a = answers
            .into_iter()
            .find(|a| a.topic == topic && a.partition == partition)
            .ok_or_else(|| {
                self.invalid(OP, format!("no answer for `{topic}` partition {partition}"))
            })?;
        Ok((a.offset >= 0).then_some(a.offset))
    }

    /// Deletes records before the given offsets (`-1`: up to the high watermark). Returns the
    /// new earliest offset of each partition: `(topic, partition, low_watermark)`.
    pub fn delete_records<S: AsRef<str>>(
        &self,
        partitions: &[(S, i32, i64)],
        timeout: Duration,
    ) -> Result<Vec<(String, i32, i64)>, KafkaError> {
        const OP: &str = "DeleteRecords";
        if partitions.is_empty() {
            return Ok(Vec::new());
        }
        let mut tpl = TopicPartitionList::with_capacity(partitions.len());
        for (t, p, off) in partitions {
            let off = if *off == -1 {
                Offset::End
            } else if *off >= 0 {
                Offset::Offset(*off)
            } else {
                return Err(
                    self.invalid(OP, format!("offset {off} (use -1 for the high watermark)"))
                );
            };
            tpl.add_partition_offset(t.as_ref(), *p, off)
                .map_err(|e| self.invalid(OP, e.to_string()))?;
        }
        let deadline = crate::limits::deadline(Instant::now(), timeout);
        let parts: Vec<(&str, i32)> = partitions
            .iter()
            .map(|(t, p, _)| (t.as_ref(), *p))
            .collect();
        let mut retried = false;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let opts = AdminOptions::new()
                .request_timeout(Some(left))
                .operation_timeout(Some(left));
            let answer = block_on_timeout(self.admin.delete_records(&tpl, &opts), left)
                .ok_or_else(|| RdError::timed_out(OP))
                .and_then(|r| r.map_err(|e| rd_error_of(&e)));
            let (err, res) = match answer {
                Ok(list) => {
                    let done = ffi::read_partition_list(&list);
                    match done.iter().find(|p| p.err != 0) {
                        None => {
                            return Ok(done
                                .into_iter()
                                .map(|p| (p.topic, p.partition, p.offset))
                                .collect())
                        }
                        Some(p) => (
                            RdError::from_code(p.err),
                            Resource::Topic(p.topic.clone(), Some(p.partition)),
                        ),
                    }
                }
                Err(e) => (e, self.resource_of(&parts)),
            };
            if !retried && is_cache_suspect_code(err.code) {
                retried = true;
                if let Some((topic, partition)) = self.find_missing(&parts, left)? {
                    return Err(KafkaError::UnknownTopicOrPartition {
                        cluster: self.cluster.clone(),
                        operation: OP.to_string(),
                        topic,
                        partition,
                    });
                }
                continue;
            }
            return Err(self.fail(OP, res, timeout, err));
        }
    }

    // -----------------------------------------------------------------------------------
    // Topics
    // -----------------------------------------------------------------------------------

    /// Creates a topic. Returns `false` if it already existed (nothing changed).
    pub fn create_topic(
        &self,
        name: &str,
        partitions: i32,
        replication_factor: i32,
        configs: &[(&str, &str)],
        timeout: Duration,
    ) -> Result<bool, KafkaError> {
        let op = format!("creating topic `{name}`");
        let mut new = NewTopic::new(
            name,
            partitions,
            TopicReplication::Fixed(replication_factor),
        );
        for (k, v) in configs {
            new = new.set(k, v);
        }
        let opts = AdminOptions::new()
            .request_timeout(Some(timeout))
            .operation_timeout(Some(timeout));
        let res = Resource::Topic(name.to_string(), None);
        let results = block_on_timeout(self.admin.create_topics([&new], &opts), timeout)
            .ok_or_else(|| self.fail(&op, res.clone(), timeout, RdError::timed_out(&op)))?
            .map_err(|e| self.fail(&op, res.clone(), timeout, rd_error_of(&e)))?;
        for r in results {
            if let Err((_, code)) = r {
                let code = code as i32;
                if code == ffi::code(E::RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
                    return Ok(false);
                }
                return Err(self.fail(&op, res, timeout, RdError::from_code(code)));
            }
        }
        Ok(true)
    }

    /// Deletes a topic. Returns `false` if it did not exist.
    pub fn delete_topic(&self, name: &str, timeout: Duration) -> Result<bool, KafkaError> {
        let op = format!("deleting topic `{name}`");
        let opts = AdminOptions::new()
            .request_timeout(Some(timeout))
            .operation_timeout(Some(timeout));
        let res = Resource::Topic(name.to_string(), None);
        let results = block_on_timeout(self.admin.delete_topics(&[name], &opts), timeout)
            .ok_or_else(|| self.fail(&op, res.clone(), timeout, RdError::timed_out(&op)))?
            .map_err(|e| self.fail(&op, res.clone(), timeout, rd_error_of(&e)))?;
        for r in results {
            if let Err((_, code)) = r {
                let code = code as i32;
                if code == ffi::code(E::RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) {
                    return Ok(false);
                }
                return Err(self.fail(&op, res, timeout, RdError::from_code(code)));
            }
        }
        Ok(true)
    }

    /// The topic's configuration entries that are not broker/cluster defaults, sorted by
    /// name (what is needed to recreate it). Sensitive values are left out.
    pub fn topic_configs(
        &self,
        name: &str,
        timeout: Duration,
    ) -> Result<Vec<(String, String)>, KafkaError> {
        let op = format!("DescribeConfigs for topic `{name}`");
        let opts = AdminOptions::new().request_timeout(Some(timeout));
        let res = Resource::Topic(name.to_string(), None);
        let spec = ResourceSpecifier::Topic(name);
        let results = block_on_timeout(self.admin.describe_configs([&spec], &opts), timeout)
            .ok_or_else(|| self.fail(&op, res.clone(), timeout, RdError::timed_out(&op)))?
            .map_err(|e| self.fail(&op, res.clone(), timeout, rd_error_of(&e)))?;
        let mut out = BTreeMap::new();
        for r in results {
            let r = r.map_err(|code| {
                self.fail(&op, res.clone(), timeout, RdError::from_code(code as i32))
            })?;
            for e in r.entries {
                if e.is_default || e.is_sensitive {
                    continue;
                }
                if matches!(
                    e.source,
                    rdkafka::admin::ConfigSource::DynamicTopic
                        | rdkafka::admin::ConfigSource::Unknown
                ) {
                    if let Some(v) = e.value {
                        out.insert(e.name, v);
                    }
                }
            }
        }
        Ok(out.into_iter().collect())
    }

    /// The value in effect of one topic config, whatever its source (a topic override, a
    /// broker or cluster default): `None` when the broker does not report it or it is
    /// sensitive. E.g. `cleanup.policy`, whose broker default applies to a topic without
    /// an override.
    pub fn topic_config_in_effect(
        &self,
        name: &str,
        key: &str,
        timeout: Duration,
    ) -> Result<Option<String>, KafkaError> {
        let op = format!("DescribeConfigs for topic `{name}`");
        let opts = AdminOptions::new().request_timeout(Some(timeout));
        let res = Resource::Topic(name.to_string(), None);
        let spec = ResourceSpecifier::Topic(name);
        let results = block_on_timeout(self.admin.describe_configs([&spec], &opts), timeout)
            .ok_or_else(|| self.fail(&op, res.clone(), timeout, RdError::timed_out(&op)))?
            .map_err(|e| self.fail(&op, res.clone(), timeout, rd_error_of(&e)))?;
        for r in results {
            let r = r.map_err(|code| {
                self.fail(&op, res.clone(), timeout, RdError::from_code(code as i32))
            })?;
            if let Some(e) = r.entries.into_iter().find(|e| e.name == key) {
                return Ok(if e.is_sensitive { None } else { e.value });
            }
        }
        Ok(None)
    }

    /// The values of `keys` in one broker's configuration (DescribeConfigs on the broker
    /// resource `broker_id`, which Kafka authorizes as DESCRIBE_CONFIGS on the cluster
    /// resource), whatever their source (the broker's properties file, a dynamic broker
    /// config, a default). A key the broker does not report is absent from the map; a
    /// sensitive or null value is `None`. E.g. `super.users`, which is static (read from
    /// the properties file at start-up), and `allow.everyone.if.no.acl.found`.
    pub fn broker_config_values(
        &self,
        broker_id: i32,
        keys: &[&str],
        timeout: Duration,
    ) -> Result<BTreeMap<String, Option<String>>, KafkaError> {
        let op = format!("DescribeConfigs for broker {broker_id}");
        let opts = AdminOptions::new().request_timeout(Some(timeout));
        let spec = ResourceSpecifier::Broker(broker_id);
        let results = block_on_timeout(self.admin.describe_configs([&spec], &opts), timeout)
            .ok_or_else(|| self.fail(&op, Resource::Cluster, timeout, RdError::timed_out(&op)))?
            .map_err(|e| self.fail(&op, Resource::Cluster, timeout, rd_error_of(&e)))?;
        let mut out = BTreeMap::new();
        for r in results {
            let r = r.map_err(|code| {
                self.fail(
                    &op,
                    Resource::Cluster,
                    timeout,
                    RdError::from_code(code as i32),
                )
            })?;
            for e in r.entries {
                if keys.contains(&e.name.as_str()) {
                    let value = if e.is_sensitive { None } else { e.value };
                    out.insert(e.name, value);
                }
            }
        }
        Ok(out)
    }

    /// The replication factor of `topic`: the largest replica count of its partitions
    /// (they are all equal unless someone reassigned partitions by hand).
    pub fn replication_factor(&self, topic: &str, timeout: Duration) -> Result<i32, KafkaError> {
        let op = format!("reading the replication factor of `{topic}`");
        let res = Resource::Topic(topic.to_string(), None);
        let md = self
            .admin
            .inner()
            .fetch_metadata(Some(topic), timeout)
            .map_err(|e| self.fail(&op, res.clone(), timeout, rd_error_of(&e)))?;
        let Some(t) = md.topics().iter().find(|t| t.name() == topic) else {
            return Err(KafkaError::UnknownTopicOrPartition {
                cluster: self.cluster.clone(),
                operation: op,
                topic: topic.to_string(),
                partition: None,
            });
        };
        if let Some(code) = t.error() {
            return Err(self.fail(&op, res, timeout, RdError::from_code(code as i32)));
        }
        let rf = t
            .partitions()
            .iter()
            .map(|p| p.replicas().len())
            .max()
            .unwrap_or(0);
        if rf == 0 {
            return Err(KafkaError::UnknownTopicOrPartition {
                cluster: self.cluster.clone(),
                operation: op,
                topic: topic.to_string(),
                partition: None,
            });
        }
        Ok(i32::try_from(rf).unwrap_or(i32::MAX))
    }

    // -----------------------------------------------------------------------------------
    // Consumer groups
    // -----------------------------------------------------------------------------------

    /// Every consumer group of the cluster, sorted by name.
    pub fn list_groups(&self, timeout: Duration) -> Result<Vec<GroupListing>, KafkaError> {
        const OP: &str = "ListConsumerGroups";
        let (listings, errors) = ffi::list_consumer_groups(self.rk(), timeout)
            .map_err(|e| self.fail(OP, Resource::Unspecified, timeout, e))?;
        if let Some(e) = errors.into_iter().next() {
            // A partial listing is not a listing: say so rather than miss groups.
            return Err(self.fail(OP, Resource::Unspecified, timeout, e));
        }
        let mut out: Vec<GroupListing> = listings
            .into_iter()
            .map(|g| GroupListing {
                group: g.group,
                state: GroupState::from_raw(g.state),
                is_simple: g.is_simple,
                group_type: GroupType::from_raw(g.group_type),
            })
            .collect();
        out.sort_by(|a, b| a.group.cmp(&b.group));
        Ok(out)
    }

    /// The groups of Kafka Connect workers coordinated by this cluster (protocol type
    /// `connect`), sorted: a worker's `group.id`, from which Connect derives its tasks'
    /// transactional ids. ListConsumerGroups does not carry the protocol type, so this
    /// uses the classic ListGroups of every broker (librdkafka's `rd_kafka_list_groups`).
    pub fn connect_worker_groups(&self, timeout: Duration) -> Result<Vec<String>, KafkaError> {
        const OP: &str = "ListGroups (Connect workers)";
        let list = self
            .admin
            .inner()
            .fetch_group_list(None, timeout)
            .map_err(|e| self.fail(OP, Resource::Unspecified, timeout, rd_error_of(&e)))?;
        let mut out: Vec<String> = list
            .groups()
            .iter()
            .filter(|g| g.protocol_type() == "connect")
            .map(|g| g.name().to_string())
            .collect();
        out.sort();
        out.dedup();
        Ok(out)
    }

    /// Describes groups, in input order. A group that does not exist is reported as
    /// `Dead` with no members (as Kafka does for classic groups).
    pub fn describe_groups<S: AsRef<str>>(
        &self,
        groups: &[S],
        timeout: Duration,
    ) -> Result<Vec<GroupDescription>, KafkaError> {
        const OP: &str = "DescribeConsumerGroups";
        if groups.is_empty() {
            return Ok(Vec::new());
        }
        let mut names: Vec<&str> = groups.iter().map(|g| g.as_ref()).collect();
        names.sort_unstable();
        names.dedup();
        let raws = ffi::describe_consumer_groups(self.rk(), &names, timeout).map_err(|e| {
            let res = match names.as_slice() {
                [g] => Resource::Group(g.to_string()),
                _ => Resource::Unspecified,
            };
            self.fail(OP, res, timeout, e)
        })?;
        let mut by_name = HashMap::new();
        for d in raws {
            let desc = match d.error {
                Some(e) if e.code == ffi::code(E::RD_KAFKA_RESP_ERR_GROUP_ID_NOT_FOUND) => {
                    GroupDescription {
                        group: d.group.clone(),
                        state: GroupState::Dead,
                        members: 0,
                        member_details: Vec::new(),
                        is_simple: false,
                        coordinator_id: d.coordinator,
                        authorized_operations: d.authorized_operations,
                    }
                }
                Some(e) => return Err(self.fail(OP, Resource::Group(d.group), timeout, e)),
                None => {
                    let member_details: Vec<GroupMember> = d
                        .members
                        .into_iter()
                        .map(|m| GroupMember {
                            client_id: m.client_id,
                            consumer_id: m.consumer_id,
                            host: m.host,
                            group_instance_id: m.group_instance_id,
                            assignment: m.assignment,
                        })
                        .collect();
                    GroupDescription {
                        group: d.group.clone(),
                        state: GroupState::from_raw(d.state),
                        members: member_details.len(),
                        member_details,
                        is_simple: d.is_simple,
                        coordinator_id: d.coordinator,
                        authorized_operations: d.authorized_operations,
                    }
                }
            };
            by_name.insert(d.group, desc);
        }
        groups
            .iter()
            .map(|g| {
                by_name.get(g.as_ref()).cloned().ok_or_else(|| {
                    self.invalid(
                        OP,
                        format!("no description returned for group `{}`", g.as_ref()),
                    )
                })
            })
            .collect()
    }

    /// The committed offsets of a group, on every partition it has one for:
    /// `(topic, partition, offset, metadata)`, sorted. Empty for an unknown group.
    pub fn committed_offsets(
        &self,
        group: &str,
        timeout: Duration,
    ) -> Result<Vec<(String, i32, i64, String)>, KafkaError> {
        let op = format!("ListConsumerGroupOffsets for group `{group}`");
        let parts = match ffi::list_group_offsets(self.rk(), group, timeout) {
            Ok(p) => p,
            Err(e) if e.code == ffi::code(E::RD_KAFKA_RESP_ERR_GROUP_ID_NOT_FOUND) => {
                return Ok(Vec::new())
            }
            Err(e) => return Err(self.fail(&op, Resource::Group(group.to_string()), timeout, e)),
        };
        let mut out = Vec::with_capacity(parts.len());
        for p in parts {
            if p.err != 0 {
                return Err(self.fail(
                    &op,
                    Resource::Topic(p.topic.clone(), Some(p.partition)),
                    timeout,
                    RdError::from_code(p.err),
                ));
            }
            if p.offset < 0 {
                continue;
            }
            out.push((
                p.topic,
                p.partition,
                p.offset,
                String::from_utf8_lossy(&p.metadata).into_owned(),
            ));
        }
        out.sort();
        Ok(out)
    }

    /// Sets a group's committed offsets: `(topic, partition, offset)`. The group must be
    /// empty (or absent): otherwise `GroupNotEmpty` with its member count, and nothing is
    /// changed.
    pub fn alter_group_offsets<S: AsRef<str>>(
        &self,
        group: &str,
        offsets: &[(S, i32, i64)],
        timeout: Duration,
    ) -> Result<(), KafkaError> {
        let with_md: Vec<(&str, i32, i64, Option<&str>)> = offsets
            .iter()
            .map(|(t, p, o)| (t.as_ref(), *p, *o, None))
            .collect();
        self.alter_group_offsets_with_metadata(group, &with_md, timeout)
    }

    /// Like `alter_group_offsets`, with commit metadata per partition (`None`: empty).
    pub fn alter_group_offsets_with_metadata(
        &self,
        group: &str,
        offsets: &[(&str, i32, i64, Option<&str>)],
        timeout: Duration,
    ) -> Result<(), KafkaError> {
        if offsets.is_empty() {
            return Ok(());
        }
        let deadline = crate::limits::deadline(Instant::now(), timeout);
        let left = || deadline.saturating_duration_since(Instant::now());
        let before = self.describe_groups(&[group], left())?;
        if let Some(d) = before.first().filter(|d| d.members > 0) {
            return Err(KafkaError::GroupNotEmpty {
                cluster: self.cluster.clone(),
                group: group.to_string(),
                members: d.members,
            });
        }
        self.alter_described_group_offsets(group, offsets, left())
    }

    /// Like `alter_group_offsets_with_metadata`, for a group the caller has just
    /// described as empty (in one DescribeGroups for many groups): the broker refuses an
    /// offset commit of a group with members anyway, and that answer is reported as
    /// `GroupNotEmpty` too, so the per-group look first only saves a round trip.
    pub fn alter_described_group_offsets(
        &self,
        group: &str,
        offsets: &[(&str, i32, i64, Option<&str>)],
        timeout: Duration,
    ) -> Result<(), KafkaError> {
        let op = format!("AlterConsumerGroupOffsets for group `{group}`");
        if offsets.is_empty() {
            return Ok(());
        }
        let deadline = crate::limits::deadline(Instant::now(), timeout);
        let left = || deadline.saturating_duration_since(Instant::now());
        let result = ffi::alter_group_offsets(self.rk(), group, offsets, left());
        let first_error = match result {
            Ok(parts) => parts.into_iter().find(|p| p.err != 0).map(|p| {
                (
                    RdError::from_code(p.err),
                    Resource::Topic(p.topic, Some(p.partition)),
                )
            }),
            Err(e) => Some((e, Resource::Group(group.to_string()))),
        };
        let Some((err, res)) = first_error else {
            return Ok(());
        };
        if is_active_group_code(err.code) {
            // A member joined between our check and the commit.
            if let Ok(now) = self.describe_groups(&[group], left().max(Duration::from_secs(1))) {
                if let Some(d) = now.first().filter(|d| d.members > 0) {
                    return Err(KafkaError::GroupNotEmpty {
                        cluster: self.cluster.clone(),
                        group: group.to_string(),
                        members: d.members,
                    });
                }
            }
        }
        Err(self.fail(&op, res, timeout, err))
    }

    // -----------------------------------------------------------------------------------
    // ACLs
    // -----------------------------------------------------------------------------------

    /// Creates ACL bindings. Creating a binding that already exists succeeds and changes
    /// nothing (the broker's behaviour, checked by the lab tests).
    pub fn create_acls(&self, acls: &[AclBinding], timeout: Duration) -> Result<(), KafkaError> {
        if acls.is_empty() {
            return Ok(());
        }
        let results = ffi::create_acls(self.rk(), acls, timeout)
            .map_err(|e| self.fail("CreateAcls", Resource::Cluster, timeout, e))?;
        for (acl, r) in acls.iter().zip(results) {
            if let Some(e) = r {
                return Err(self.fail(
                    &format!("CreateAcls ({acl})"),
                    Resource::Cluster,
                    timeout,
                    e,
                ));
            }
        }
        Ok(())
    }

    /// The ACL bindings matching a filter, sorted.
    ///
    /// librdkafka 2.12.1 ignores the top-level error of a DescribeAcls response, so a
    /// principal without DESCRIBE on the cluster would see an empty list instead of an
    /// error. We therefore check that permission first (DescribeCluster) and report
    /// `AuthorizationDenied` rather than a misleading "no ACLs".
    pub fn describe_acls(
        &self,
        filter: &AclFilter,
        timeout: Duration,
    ) -> Result<Vec<AclBinding>, KafkaError> {
        const OP: &str = "DescribeAcls";
        let deadline = crate::limits::deadline(Instant::now(), timeout);
        match self.describe_cluster(timeout) {
            Ok(c) if c.may_describe_acls() == Some(false) => {
                return Err(KafkaError::AuthorizationDenied {
                    cluster: self.cluster.clone(),
                    operation: OP.to_string(),
                    resource: Resource::Cluster.to_string(),
                    detail: "the principal lacks DESCRIBE on the cluster resource".to_string(),
                });
            }
            // Brokers without DescribeCluster (Kafka < 2.8): nothing to check with.
            Err(KafkaError::Broker { code, .. })
                if code == ffi::code(E::RD_KAFKA_RESP_ERR__UNSUPPORTED_FEATURE) => {}
            Err(e) => return Err(e),
            Ok(_) => {}
        }
        let left = deadline.saturating_duration_since(Instant::now());
        let mut acls = ffi::describe_acls(self.rk(), filter, left)
            .map_err(|e| self.fail(OP, Resource::Cluster, timeout, e))?;
        acls.sort();
        Ok(acls)
    }

    /// Deletes exactly these bindings; returns those that existed and were deleted.
    pub fn delete_acls(
        &self,
        acls: &[AclBinding],
        timeout: Duration,
    ) -> Result<Vec<AclBinding>, KafkaError> {
        let filters: Vec<AclFilter> = acls.iter().map(AclBinding::to_filter).collect();
        self.delete_acls_matching(&filters, timeout)
    }

    /// Deletes every binding matching any of the filters; returns what was deleted.
    pub fn delete_acls_matching(
        &self,
        filters: &[AclFilter],
        timeout: Duration,
    ) -> Result<Vec<AclBinding>, KafkaError> {
        if filters.is_empty() {
            return Ok(Vec::new());
        }
        let results = ffi::delete_acls(self.rk(), filters, timeout)
            .map_err(|e| self.fail("DeleteAcls", Resource::Cluster, timeout, e))?;
        let mut deleted = Vec::new();
        for r in results {
            deleted.extend(r.map_err(|e| self.fail("DeleteAcls", Resource::Cluster, timeout, e))?);
        }
        deleted.sort();
        deleted.dedup();
        Ok(deleted)
    }
}

/// Converts a rust-rdkafka error into our raw form (code + message).
fn rd_error_of(e: &rdkafka::error::KafkaError) -> RdError {
    match e.rdkafka_error_code() {
        Some(code) => RdError::with_message(code as i32, e.to_string()),
        None => RdError::with_message(-1, e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_bootstrap_is_a_config_error() {
        let e = KafkaClient::connect("dc1", Vec::new(), Duration::from_secs(1)).unwrap_err();
        assert!(matches!(e, KafkaError::Config { .. }), "{e}");
        assert!(e.to_string().contains("`bootstrap.servers` is not set"));
    }

    #[test]
    fn bad_property_is_a_config_error_without_secrets() {
        let e = KafkaClient::connect(
            "dc1",
            vec![
                ("bootstrap.servers".to_string(), "127.0.0.1:1".to_string()),
                ("sasl.password".to_string(), "hunter2-secret".to_string()),
                ("no.such.property".to_string(), "hunter2-secret".to_string()),
            ],
            Duration::from_secs(1),
        )
        .unwrap_err();
        assert!(matches!(e, KafkaError::Config { .. }), "{e}");
        assert!(!e.to_string().contains("hunter2"), "{e}");
    }

    /// Issue 12: a mistyped secret key (`sasl.passwd`) is not known to be secret, and
    /// rdkafka's message ends with its value; it must not be shown, and it is bad input.
    #[test]
    fn mistyped_secret_key_value_is_not_shown() {
        let e = KafkaClient::connect(
            "dc1",
            vec![
                ("bootstrap.servers".to_string(), "127.0.0.1:1".to_string()),
                ("sasl.passwd".to_string(), "only-here-pw-77".to_string()),
            ],
            Duration::from_secs(1),
        )
        .unwrap_err();
        let msg = e.to_string();
        assert!(!msg.contains("only-here-pw-77"), "{msg}");
        assert!(msg.contains("sasl.passwd"), "{msg}");
        assert_eq!(e.exit_code(), crate::exit_code::ExitCode::Usage);
    }

    #[test]
    fn tls_handshake_failures_are_explained() {
        let verify = "ssl://127.0.0.1:31093/bootstrap: SSL handshake failed: error:0A000086:SSL routines::certificate verify failed: broker certificate could not be verified, verify that ssl.ca.location is correctly configured or root CA certificates are installed (install ca-certificates package) (after 4ms in state SSL_HANDSHAKE)";
        let d = tls_detail(verify);
        assert!(
            d.starts_with("the broker's certificate is not signed by a CA this client trusts"),
            "{d}"
        );
        assert!(
            d.ends_with("error:0A000086:SSL routines::certificate verify failed"),
            "{d}"
        );
        let d = tls_detail("SSL handshake failed: error:0A00045C:SSL routines::tlsv13 alert certificate required: SSL alert number 116");
        assert!(
            d.starts_with("the broker requires a client certificate"),
            "{d}"
        );
        let d =
            tls_detail("SSL handshake failed: error:0A00010B:SSL routines::wrong version number");
        assert!(d.contains("does not speak TLS"), "{d}");
        assert_eq!(tls_detail("something else"), "something else");
    }

    #[test]
    fn undecodable_batches_are_not_transient() {
        for c in [
            E::RD_KAFKA_RESP_ERR__NOT_IMPLEMENTED,
            E::RD_KAFKA_RESP_ERR__BAD_COMPRESSION,
            E::RD_KAFKA_RESP_ERR__BAD_MSG,
        ] {
            assert!(undecodable_reason(ffi::code(c)).is_some(), "{c:?}");
        }
        assert!(undecodable_reason(ffi::code(E::RD_KAFKA_RESP_ERR__TIMED_OUT)).is_none());
        let e = KafkaError::Undecodable {
            cluster: "dc1".into(),
            operation: "reading `app.x` partition 0".into(),
            reason: undecodable_reason(ffi::code(E::RD_KAFKA_RESP_ERR__NOT_IMPLEMENTED)).unwrap(),
            detail: "Decompression (codec 0x4) of message at 7 of 80 bytes failed".into(),
        };
        let text = e.to_string();
        assert!(
            text.contains("codec") && text.contains("partition 0") && !text.contains("timed out"),
            "{text}"
        );
    }

    #[test]
    fn closed_port_is_unreachable_within_the_timeout() {
        // Port 1 on loopback: nothing listens there.
        let started = Instant::now();
        let e = KafkaClient::connect(
            "dc9",
            vec![("bootstrap.servers".to_string(), "127.0.0.1:1".to_string())],
            Duration::from_millis(1500),
        )
        .unwrap_err();
        let took = started.elapsed();
        assert!(took < Duration::from_millis(2500), "took {took:?}");
        match &e {
            KafkaError::Unreachable {
                cluster, bootstrap, ..
            } => {
                assert_eq!(cluster, "dc9");
                assert_eq!(bootstrap, "127.0.0.1:1");
            }
            other => panic!("expected Unreachable, got {other:?}"),
        }
        assert_eq!(e.exit_code(), crate::exit_code::ExitCode::Unreachable);
    }

    /// Issue 10: a cluster whose brokers all refuse connections (killed, port closed) is
    /// reported as such at once, not after the whole timeout.
    #[test]
    fn refused_connections_are_not_waited_out() {
        let started = Instant::now();
        let e = KafkaClient::connect(
            "dc9",
            vec![("bootstrap.servers".to_string(), "127.0.0.1:1".to_string())],
            Duration::from_secs(30),
        )
        .unwrap_err();
        let took = started.elapsed();
        match &e {
            KafkaError::Unreachable { refused, .. } => assert!(*refused, "{e}"),
            other => panic!("expected Unreachable, got {other:?}"),
        }
        assert!(
            took < Duration::from_secs(10),
            "took {took:?} of a 30s timeout"
        );
        let text = e.to_string();
        assert!(text.contains("no broker accepts connections"), "{text}");
        assert!(text.contains("Connection refused"), "{text}");
    }

    #[test]
    fn client_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<KafkaClient>();
    }

    #[test]
    fn block_on_times_out_and_completes() {
        assert_eq!(
            block_on_timeout(async { 7 }, Duration::from_millis(10)),
            Some(7)
        );
        let never = std::future::pending::<()>();
        let started = Instant::now();
        assert_eq!(block_on_timeout(never, Duration::from_millis(50)), None);
        assert!(started.elapsed() >= Duration::from_millis(50));
    }
}
