//! The shared test harness: one real two-DC lab per test run, fresh names per test.
//!
//! `lab()` makes sure the lab is up (running `lab/kafka-lab up`, which is idempotent)
//! and reads its endpoints and credentials from `lab/kafka-lab env`. If this process
//! had to start the lab, it also starts `lab/kafka-lab watchdog <cargo pid>`, which
//! stops every JVM once the `cargo test` that started it ends, however it ends. Under
//! `scripts/test` the script owns the lab and its watchdog.
//!
//! Tests that break the lab for everyone (killing a DC, stopping the forward flow) take
//! `exclusive()`; every other lab test takes `shared()`, so they never overlap.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{OnceLock, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{BaseRecord, Producer, ThreadedProducer};
use rdkafka::{Offset, TopicPartitionList};

/// The checkout under test. Read at run time (cargo test sets it): a test binary reused
/// from a shared target dir must not point at the clone that compiled it.
pub fn repo_root() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}

pub fn kafka_lab() -> PathBuf {
    repo_root().join("lab").join("kafka-lab")
}

/// Endpoints and credentials of the running lab.
#[derive(Debug, Clone)]
pub struct Lab {
    pub env: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Principal {
    Admin,
    Mirror,
    App,
}

impl Lab {
    pub fn var(&self, name: &str) -> String {
        self.env
            .get(name)
            .cloned()
            .unwrap_or_else(|| panic!("`lab/kafka-lab env` did not print {name}"))
    }
    pub fn bootstrap(&self, dc: &str) -> String {
        self.var(&format!("KAFKA_LAB_{}_BOOTSTRAP", dc.to_uppercase()))
    }
    pub fn connect(&self, dc: &str) -> String {
        self.var(&format!("KAFKA_LAB_{}_CONNECT", dc.to_uppercase()))
    }
    pub fn topology(&self) -> PathBuf {
        PathBuf::from(self.var("KAFKA_LAB_TOPOLOGY"))
    }
    pub fn creds(&self, who: Principal) -> (String, String) {
        let p = match who {
            Principal::Admin => "ADMIN",
            Principal::Mirror => "MIRROR",
            Principal::App => "APP",
        };
        (
            self.var(&format!("KAFKA_LAB_{p}_USER")),
            self.var(&format!("KAFKA_LAB_{p}_PASSWORD")),
        )
    }
    /// Every lab password, for leak checks.
    pub fn passwords(&self) -> Vec<String> {
        let mut v: Vec<String> = [Principal::Admin, Principal::Mirror, Principal::App]
            .iter()
            .map(|p| self.creds(*p).1)
            .collect();
        // The secured lab's PKCS#12 keystores share one password.
        v.extend(self.env.get("KAFKA_LAB_KEYSTORE_PASSWORD").cloned());
        v
    }
    /// The lab's MM2 shape (`KAFKA_LAB_SHAPE`): `identity` or `prefix`.
    pub fn shape(&self) -> &str {
        self.env
            .get("KAFKA_LAB_SHAPE")
            .map(String::as_str)
            .unwrap_or("identity")
    }
    /// The name MM2 gives `topic` of cluster `source` on the other cluster: the same name,
    /// or `<source>.<topic>` on the prefix shape (DefaultReplicationPolicy).
    pub fn replica(&self, source: &str, topic: &str) -> String {
        if self.shape() == "prefix" {
            format!("{source}.{topic}")
        } else {
            topic.to_string()
        }
    }
    /// True on the lab's secured profile (dc1 SASL_SSL + SCRAM-SHA-512, dc2 mTLS).
    pub fn secured(&self) -> bool {
        self.env.get("KAFKA_LAB_PROFILE").map(String::as_str) == Some("secured")
    }

    /// True when the lab's MM2 copies exactly-once (secured profile with
    /// `KAFKA_LAB_EXACTLY_ONCE=1`).
    pub fn exactly_once(&self) -> bool {
        self.env.get("KAFKA_LAB_EXACTLY_ONCE").map(String::as_str) == Some("1")
    }

    /// librdkafka settings for `dc` authenticated as `who`, written by hand from the lab's
    /// own files (not through kafka-dr's properties mapping, which is under test).
    pub fn rd_settings(&self, dc: &str, who: Principal) -> Vec<(String, String)> {
        let (user, password) = self.creds(who);
        let mut v: Vec<(&str, String)> = vec![("bootstrap.servers", self.bootstrap(dc))];
        if !self.secured() {
            v.extend([
                ("security.protocol", "SASL_PLAINTEXT".to_string()),
                ("sasl.mechanism", "PLAIN".to_string()),
                ("sasl.username", user),
                ("sasl.password", password),
            ]);
        } else if dc == "dc1" {
            v.extend([
                ("security.protocol", "SASL_SSL".to_string()),
                ("sasl.mechanism", "SCRAM-SHA-512".to_string()),
                ("sasl.username", user),
                ("sasl.password", password),
                ("ssl.ca.location", self.var("KAFKA_LAB_CA_FILE")),
            ]);
        } else {
            let tls = self.var("KAFKA_LAB_TLS_DIR");
            v.extend([
                ("security.protocol", "SSL".to_string()),
                ("ssl.ca.location", self.var("KAFKA_LAB_CA_FILE")),
                ("ssl.certificate.location", format!("{tls}/{user}-cert.pem")),
                ("ssl.key.location", format!("{tls}/{user}-key.pem")),
            ]);
        }
        v.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
    }

    /// An rdkafka config for `dc` authenticated as `who`.
    pub fn client_config(&self, dc: &str, who: Principal) -> ClientConfig {
        let mut c = ClientConfig::new();
        for (k, v) in self.rd_settings(dc, who) {
            c.set(k, v);
        }
        c.set("log_level", "3");
        c
    }
    /// The environment a `kafka-dr` child process needs to use the lab topology.
    pub fn child_env(&self) -> Vec<(String, String)> {
        self.env
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
}

static LAB: OnceLock<Lab> = OnceLock::new();
static LAB_LOCK: RwLock<()> = RwLock::new(());

fn run_lab(args: &[&str]) -> std::process::Output {
    Command::new(kafka_lab())
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run lab/kafka-lab {args:?}: {e}"))
}

/// The running lab, started on first use.
pub fn lab() -> &'static Lab {
    LAB.get_or_init(|| {
        let was_up = run_lab(&["status"]).status.success();
        // Under scripts/test the script owns the lab: a lab that is down means the run
        // is ending (or broke); never start a second one behind its back.
        if !was_up && std::env::var_os("KAFKA_DR_TEST_LAB_OWNED").is_some() {
            panic!("the lab scripts/test started is down; see its output");
        }
        if !was_up {
            let out = Command::new(kafka_lab())
                .arg("up")
                .status()
                .expect("run lab/kafka-lab up");
            assert!(
                out.success(),
                "lab/kafka-lab up failed (see its output above)"
            );
            // Stop the lab when the cargo process that runs the tests ends.
            let cargo_pid = std::os::unix::process::parent_id();
            let w = run_lab(&["watchdog", &cargo_pid.to_string()]);
            assert!(w.status.success(), "lab/kafka-lab watchdog failed");
        }
        let out = run_lab(&["env"]);
        assert!(out.status.success(), "lab/kafka-lab env failed");
        let mut env = BTreeMap::new();
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            if let Some(rest) = line.strip_prefix("export ") {
                if let Some((k, v)) = rest.split_once('=') {
                    let v = v.trim_matches(|c| c == '\'' || c == '"');
                    env.insert(k.to_string(), v.to_string());
                }
            }
        }
        Lab { env }
    })
}

/// Guard for a test that only adds its own topics and groups.
pub fn shared() -> RwLockReadGuard<'static, ()> {
    LAB_LOCK.read().unwrap_or_else(|p| p.into_inner())
}

/// Held by a test that disturbs the whole lab (kills a DC, stops or fails the forward
/// flow). When it drops (after the test's own cleanup, since it is the test's first
/// local), the lab is healed and proved healthy before any other test may run.
pub struct Exclusive {
    _lock: RwLockWriteGuard<'static, ()>,
}

impl Drop for Exclusive {
    fn drop(&mut self) {
        // On a thread of its own: this may run while the test unwinds, where a second
        // panic (a lab call that fails) would abort the whole test binary.
        let started = std::time::Instant::now();
        let healed = std::thread::spawn(heal_lab).join();
        record_test_time(" (heal)", started);
        if healed.is_err() {
            eprintln!("heal: failed (see the panic above); later tests may fail");
        }
    }
}

/// Guard for a test that disturbs the whole lab; see [`Exclusive`].
pub fn exclusive() -> Exclusive {
    Exclusive {
        _lock: LAB_LOCK.write().unwrap_or_else(|p| p.into_inner()),
    }
}

/// The lab's forward flow, as `lab/kafka-lab up` creates it on dc2's Connect.
pub const FORWARD_CONNECTORS: [&str; 3] = [
    "mm2-dc1-dc2-source",
    "mm2-dc1-dc2-checkpoint",
    "mm2-dc1-dc2-heartbeat",
];

/// Put the lab back as every test expects it: both DCs up, the forward connectors
/// running without failed tasks, and a fresh canary record copied from dc1 to dc2.
/// A test that left the lab broken would otherwise fail the tests after it.
pub fn heal_lab() {
    let Some(lab) = LAB.get() else { return };
    for dc in ["dc1", "dc2"] {
        let _ = run_lab(&["start", dc]);
    }
    for dc in ["dc1", "dc2"] {
        lift_mirror_denies(lab, dc);
    }
    let c = connect_client(lab, "dc2");
    for name in FORWARD_CONNECTORS {
        let _ = block_on(c.resume(name));
    }
    static CANARY: OnceLock<String> = OnceLock::new();
    let topic = CANARY.get_or_init(|| {
        let t = unique("canary");
        create_topic(lab, "dc1", &t, 1);
        t
    });
    let mark = make_records(&unique("canary-rec"), 1, 1);
    if let Err(e) = try_produce(lab, "dc1", Principal::App, topic, &mark) {
        eprintln!("heal: cannot write the canary to dc1: {e}");
        return;
    }
    let started = Instant::now();
    let deadline = started + Duration::from_secs(180);
    let mut next_restart = Instant::now();
    loop {
        if Instant::now() >= next_restart {
            for name in FORWARD_CONNECTORS {
                let _ = block_on(c.resume(name));
                if block_on(c.status(name)).is_ok_and(|s| !s.failures().is_empty()) {
                    let _ = block_on(c.restart(name, true, true));
                }
            }
            next_restart = Instant::now() + Duration::from_secs(10);
        }
        let arrived = read_all(lab, "dc2", &lab.replica("dc1", topic))
            .iter()
            .any(|r| r.same_content(&mark[0]));
        if arrived {
            eprintln!(
                "heal: the lab replicates again ({:.1} s)",
                started.elapsed().as_secs_f64()
            );
            return;
        }
        if Instant::now() > deadline {
            eprintln!("heal: the canary did not reach dc2 in 180 s; later tests may fail");
            return;
        }
        std::thread::sleep(Duration::from_secs(1));
    }
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A fresh in-scope name (`app.<what>-<pid>-<n>-<nanos>`) for a topic or group.
pub fn unique(what: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("app.{what}-{}-{n}-{nanos:x}", std::process::id())
}

pub fn admin(lab: &Lab, dc: &str) -> AdminClient<DefaultClientContext> {
    lab.client_config(dc, Principal::Admin)
        .create()
        .expect("admin client")
}

pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
        .block_on(f)
}

pub fn create_topic(lab: &Lab, dc: &str, topic: &str, partitions: i32) {
    let admin = admin(lab, dc);
    let new = NewTopic::new(topic, partitions, TopicReplication::Fixed(1));
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    let res = block_on(admin.create_topics([&new], &opts)).expect("create_topics");
    for r in res {
        r.unwrap_or_else(|(t, e)| panic!("create topic {t} on {dc}: {e}"));
    }
}

/// A record as tests compare them across clusters.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Rec {
    pub partition: i32,
    pub offset: i64,
    pub timestamp: i64,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub headers: Vec<(String, Option<Vec<u8>>)>,
}

impl Rec {
    /// The record as a consumer received it.
    pub fn from_message<M: Message>(m: &M) -> Rec {
        let headers = m
            .headers()
            .map(|h| {
                h.iter()
                    .map(|h| (h.key.to_string(), h.value.map(|v| v.to_vec())))
                    .collect()
            })
            .unwrap_or_default();
        Rec {
            partition: m.partition(),
            offset: m.offset(),
            timestamp: m.timestamp().to_millis().unwrap_or(-1),
            key: m.key().map(|k| k.to_vec()),
            value: m.payload().map(|v| v.to_vec()),
            headers,
        }
    }

    /// Equal content, whatever the offset.
    pub fn same_content(&self, other: &Rec) -> bool {
        self.partition == other.partition
            && self.timestamp == other.timestamp
            && self.key == other.key
            && self.value == other.value
            && self.headers == other.headers
    }
}

/// Produce `records` (partition, key, value, headers, timestamp) as `who` and wait for
/// every delivery report; panics on any delivery error.
pub fn produce(lab: &Lab, dc: &str, who: Principal, topic: &str, records: &[Rec]) {
    try_produce(lab, dc, who, topic, records)
        .unwrap_or_else(|e| panic!("produce to {dc}/{topic}: {e}"))
}

pub fn try_produce(
    lab: &Lab,
    dc: &str,
    who: Principal,
    topic: &str,
    records: &[Rec],
) -> Result<(), String> {
    try_produce_with(lab, dc, who, topic, records, &[])
}

/// `try_produce` with extra producer settings (e.g. `compression.codec`).
pub fn try_produce_with(
    lab: &Lab,
    dc: &str,
    who: Principal,
    topic: &str,
    records: &[Rec],
    settings: &[(&str, &str)],
) -> Result<(), String> {
    use std::sync::{Arc, Mutex};
    #[derive(Clone, Default)]
    struct Ctx(Arc<Mutex<Vec<String>>>);
    impl rdkafka::ClientContext for Ctx {}
    impl rdkafka::producer::ProducerContext for Ctx {
        type DeliveryOpaque = ();
        fn delivery(&self, r: &rdkafka::message::DeliveryResult<'_>, _: ()) {
            if let Err((e, _)) = r {
                self.0.lock().unwrap().push(e.to_string());
            }
        }
    }
    let ctx = Ctx::default();
    let mut config = lab.client_config(dc, who);
    config
        .set("message.timeout.ms", "15000")
        .set("enable.idempotence", "false")
        .set("linger.ms", "5");
    for (k, v) in settings {
        config.set(*k, *v);
    }
    let producer: ThreadedProducer<Ctx> = config
        .create_with_context(ctx.clone())
        .map_err(|e| e.to_string())?;
    for r in records {
        let mut headers = OwnedHeaders::new();
        for (k, v) in &r.headers {
            headers = headers.insert(Header {
                key: k,
                value: v.as_deref(),
            });
        }
        let mut rec: BaseRecord<'_, [u8], [u8], ()> = BaseRecord::to(topic)
            .partition(r.partition)
            .timestamp(r.timestamp)
            .headers(headers);
        if let Some(k) = &r.key {
            rec = rec.key(k.as_slice());
        }
        if let Some(v) = &r.value {
            rec = rec.payload(v.as_slice());
        }
        let mut rec = rec;
        loop {
            match producer.send(rec) {
                Ok(()) => break,
                Err((e, back)) => {
                    if e.rdkafka_error_code() == Some(rdkafka::types::RDKafkaErrorCode::QueueFull) {
                        std::thread::sleep(Duration::from_millis(20));
                        rec = back;
                    } else {
                        return Err(e.to_string());
                    }
                }
            }
        }
    }
    producer
        .flush(Duration::from_secs(30))
        .map_err(|e| e.to_string())?;
    let errors = ctx.0.lock().unwrap().clone();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{} delivery errors, first: {}",
            errors.len(),
            errors[0]
        ))
    }
}

/// `n` keyed records spread round-robin over `partitions`, with headers and distinct
/// timestamps, deterministic from `seed`.
pub fn make_records(seed: &str, n: usize, partitions: i32) -> Vec<Rec> {
    // Recent timestamps, fixed for the whole run (so two calls with the same seed give
    // the same records): old ones would fall to the brokers' 7-day time retention at its
    // next 5-minute check, and records would vanish in the middle of a test.
    static BASE: OnceLock<i64> = OnceLock::new();
    let base = *BASE.get_or_init(|| {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        now - 3_600_000
    });
    (0..n)
        .map(|i| Rec {
            partition: (i as i32) % partitions,
            offset: -1,
            timestamp: base + i as i64,
            key: Some(format!("{seed}-key-{i}").into_bytes()),
            value: if i % 97 == 13 {
                None
            } else {
                Some(format!("{seed}-value-{i}-{}", "x".repeat(i % 50)).into_bytes())
            },
            headers: vec![
                ("seq".to_string(), Some(i.to_string().into_bytes())),
                (
                    "empty".to_string(),
                    if i % 2 == 0 { None } else { Some(Vec::new()) },
                ),
            ],
        })
        .collect()
}

/// Read every record of `topic` on `dc` from the earliest offset up to the high
/// watermark as seen at the call (admin principal, no group, nothing committed).
pub fn read_all(lab: &Lab, dc: &str, topic: &str) -> Vec<Rec> {
    read_all_with(lab, dc, topic, "read_uncommitted")
}

/// `read_all` at an `isolation.level`. A partition is done at its high watermark or at
/// its end of partition (a transaction's marker can be the last offset; a read_committed
/// consumer stops at the last stable offset).
pub fn read_all_with(lab: &Lab, dc: &str, topic: &str, isolation: &str) -> Vec<Rec> {
    let consumer: BaseConsumer = lab
        .client_config(dc, Principal::Admin)
        .set(
            "group.id",
            format!("kdr-test-reader-{}", std::process::id()),
        )
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .set("isolation.level", isolation)
        .create()
        .expect("consumer");
    let md = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .expect("metadata");
    let parts: Vec<i32> = md.topics()[0].partitions().iter().map(|p| p.id()).collect();
    let mut tpl = TopicPartitionList::new();
    let mut ends = BTreeMap::new();
    for p in &parts {
        // A leadership change right after the topic was created or the lab restarted
        // answers NotLeaderForPartition once: ask again.
        let mut attempt = 0;
        let (lo, hi) = loop {
            match consumer.fetch_watermarks(topic, *p, Duration::from_secs(10)) {
                Ok(w) => break w,
                Err(e) if attempt < 5 => {
                    eprintln!("watermarks of {topic}[{p}] on {dc}: {e}; asking again");
                    attempt += 1;
                    std::thread::sleep(Duration::from_millis(500));
                }
                Err(e) => panic!("watermarks of {topic}[{p}] on {dc}: {e}"),
            }
        };
        if hi > lo {
            tpl.add_partition_offset(topic, *p, Offset::Offset(lo))
                .unwrap();
            ends.insert(*p, hi);
        }
    }
    let mut out = Vec::new();
    if ends.is_empty() {
        return out;
    }
    consumer.assign(&tpl).expect("assign");
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut done: BTreeMap<i32, bool> = ends.keys().map(|p| (*p, false)).collect();
    while done.values().any(|d| !d) {
        assert!(Instant::now() < deadline, "timed out reading {dc}/{topic}");
        match consumer.poll(Duration::from_millis(500)) {
            Some(Ok(m)) => {
                let (p, off) = (m.partition(), m.offset());
                out.push(Rec::from_message(&m));
                if off + 1 >= ends[&p] {
                    done.insert(p, true);
                }
            }
            Some(Err(rdkafka::error::KafkaError::PartitionEOF(p))) => {
                done.insert(p, true);
            }
            Some(Err(e)) => panic!("read {dc}/{topic}: {e}"),
            None => {}
        }
    }
    out.sort();
    out
}

/// Poll `f` until it returns Some or `timeout` passes.
pub fn wait_for<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Run `lab/kafka-lab <args>` and insist it succeeds.
pub fn lab_cmd(args: &[&str]) {
    let status = Command::new(kafka_lab())
        .args(args)
        .status()
        .expect("run lab/kafka-lab");
    assert!(status.success(), "lab/kafka-lab {args:?} failed");
}

pub fn path_str(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

/// A test's own corner of the lab: a topology whose scope is only this test's topics
/// and groups (`app.<tag>-...`), its own journal, and a runner for the kafka-dr binary.
/// Fences created through it touch only this test's names, so tests can run side by side.
pub struct Sandbox {
    pub lab: &'static Lab,
    pub dir: tempfile::TempDir,
    /// The scope prefix: every topic and group of this test starts with it.
    pub prefix: String,
    pub topology: PathBuf,
    pub journal: PathBuf,
    /// When the test made its sandbox: [`Drop`] records the test's wall time.
    started: std::time::Instant,
}

/// Appends `<seconds> <test name>` to `$KAFKA_DR_TEST_TIMES` (scripts/test sets it and
/// prints the slowest tests at the end): the suite has a 45-minute budget, and this is
/// how a run says where its time went.
fn record_test_time(what: &str, started: std::time::Instant) {
    let Some(path) = std::env::var_os("KAFKA_DR_TEST_TIMES") else {
        return;
    };
    let name = std::thread::current()
        .name()
        .unwrap_or("unnamed")
        .to_string();
    let line = format!("{:.1} {name}{what}\n", started.elapsed().as_secs_f64());
    use std::io::Write;
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        let _ = f.write_all(line.as_bytes());
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        record_test_time("", self.started);
    }
}

impl Sandbox {
    pub fn new(tag: &str) -> Sandbox {
        let lab = lab();
        let prefix = unique(tag);
        let dir = tempfile::tempdir().expect("temp dir");
        let text = std::fs::read_to_string(lab.topology()).expect("read lab topology");
        // The scope: exactly this test's names. Replace the lab's `topics:`/`groups:`
        // lines and the topology name (each sandbox gets its own lease).
        let escaped = regex::escape(&prefix).replace('\\', "\\\\");
        let mut replaced = 0;
        let text: String = text
            .lines()
            .map(|line| {
                let trimmed = line.trim_start();
                let indent = &line[..line.len() - trimmed.len()];
                if trimmed.starts_with("topics:") || trimmed.starts_with("groups:") {
                    replaced += 1;
                    let key = &trimmed[..6];
                    format!("{indent}{key}: {{ include: [\"{escaped}.*\"], exclude: [] }}\n")
                } else if trimmed.starts_with("name:") && indent.is_empty() {
                    format!("name: {}\n", prefix.replace('.', "-"))
                } else {
                    format!("{line}\n")
                }
            })
            .collect();
        assert_eq!(
            replaced, 2,
            "lab/topology.yaml changed shape; update Sandbox::new"
        );
        // Its own copy of the recorded deltas on the backup (issue 14): the fences deny
        // WRITE on it by name, so sandboxes sharing one would lift each other's binding.
        let text = text.replacen(
            "replication:\n",
            &format!("replication:\n  deltas_topic: kafka-dr.deltas.{prefix}.internal\n"),
            1,
        );
        assert!(
            text.contains("deltas_topic:"),
            "lab/topology.yaml has no `replication:` line; update Sandbox::new"
        );
        // The dedicated shape's hooks run `./kafka-lab`, beside the lab's topology file.
        let text = text.replace(
            "[./kafka-lab,",
            &format!("[\"{}\",", path_str(&kafka_lab())),
        );
        let topology = dir.path().join("topology.yaml");
        std::fs::write(&topology, text).expect("write topology");
        let journal = dir.path().join("journal.db");
        Sandbox {
            lab,
            dir,
            prefix,
            topology,
            journal,
            started: std::time::Instant::now(),
        }
    }

    /// The same topology and scope with a journal of its own in a new temp dir: a
    /// second host (e.g. a fresh host in the backup DC that never recorded anything).
    pub fn second_host(&self) -> Sandbox {
        let dir = tempfile::tempdir().expect("temp dir");
        let journal = dir.path().join("second-host.journal.db");
        Sandbox {
            lab: self.lab,
            dir,
            prefix: self.prefix.clone(),
            topology: self.topology.clone(),
            journal,
            started: std::time::Instant::now(),
        }
    }

    /// A topic or group name inside this sandbox's scope.
    pub fn name(&self, what: &str) -> String {
        format!("{}.{what}", self.prefix)
    }

    /// `kafka-dr --topology <sandbox> --journal <sandbox> ARGS` with the lab env, no TTY.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_kafka-dr"));
        cmd.arg("--topology")
            .arg(&self.topology)
            .arg("--journal")
            .arg(&self.journal)
            .args(args)
            .envs(self.lab.child_env())
            .stdin(std::process::Stdio::null());
        cmd
    }

    /// Run kafka-dr to completion.
    pub fn run(&self, args: &[&str]) -> Output {
        let out = self.command(args).output().expect("run kafka-dr");
        Output {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Run kafka-dr and insist on exit 0.
    pub fn ok(&self, args: &[&str]) -> Output {
        let out = self.run(args);
        assert_eq!(out.code, Some(0), "kafka-dr {args:?} failed:\n{out}");
        out
    }
}

/// What a kafka-dr invocation printed.
#[derive(Debug)]
pub struct Output {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl std::fmt::Display for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

impl Output {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}):\n{self}"))
    }
}

// ---------------------------------------------------------------------------------------
// The library, driven in-process against the lab.
// ---------------------------------------------------------------------------------------

/// Export the lab's endpoints and secrets to this process once, so `${env:...}` in the
/// lab topology resolves (the same values every time, written before any test reads).
pub fn export_lab_env(lab: &Lab) {
    static ENV: std::sync::Once = std::sync::Once::new();
    ENV.call_once(|| {
        for (k, v) in &lab.env {
            std::env::set_var(k, v);
        }
    });
}

impl Sandbox {
    /// The library's view of the sandbox: its topology and its journal.
    pub fn open(&self) -> (kafka_dr::topology::Topology, kafka_dr::journal::Journal) {
        export_lab_env(self.lab);
        let topology =
            kafka_dr::topology::Topology::load(&self.topology).expect("load sandbox topology");
        let journal =
            kafka_dr::journal::Journal::open(&self.journal).expect("open sandbox journal");
        (topology, journal)
    }
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// Run a runbook given as text through the engine, with `--yes`.
pub fn run_runbook(
    topology: &kafka_dr::topology::Topology,
    journal: &kafka_dr::journal::Journal,
    text: &str,
    dry_run: bool,
) -> Result<kafka_dr::engine::RunReport, kafka_dr::engine::EngineError> {
    let rb = kafka_dr::runbook::load_str(text, "test").expect("runbook");
    kafka_dr::runbook::validate_against(&rb, topology).expect("runbook fits the topology");
    let rt = runtime();
    let reporter = kafka_dr::report::Reporter::new(kafka_dr::report::OutputFormat::Table, 0);
    reporter.add_secrets(topology.secret_values());
    let engine = kafka_dr::engine::Engine::new(
        topology,
        journal,
        rt.handle().clone(),
        &reporter,
        kafka_dr::actions::build,
    );
    let options = kafka_dr::engine::RunOptions {
        dry_run,
        assume_yes: true,
        ..Default::default()
    };
    engine.run(&rb, &options)
}

/// What a step of a run stored: its output, or (dry-run, nothing to do) its plan's detail.
pub fn step_output(
    journal: &kafka_dr::journal::Journal,
    run_id: i64,
    step: &str,
) -> serde_json::Value {
    let s = journal
        .steps(run_id)
        .expect("steps")
        .into_iter()
        .find(|s| s.step_id == step)
        .unwrap_or_else(|| panic!("run {run_id} has no step {step}"));
    s.output
        .or_else(|| s.plan.and_then(|p| p.get("detail").cloned()))
        .unwrap_or_else(|| panic!("step {step} of run {run_id} stored nothing"))
}

/// kafka-dr's own Kafka client for `dc`, as admin.
pub fn kdr_client(lab: &Lab, dc: &str) -> kafka_dr::kafka::KafkaClient {
    kafka_dr::kafka::KafkaClient::connect(
        dc,
        lab.rd_settings(dc, Principal::Admin),
        Duration::from_secs(10),
    )
    .expect("admin client")
}

/// kafka-dr's Connect client for the worker of `dc`.
pub fn connect_client(lab: &Lab, dc: &str) -> kafka_dr::connect::ConnectClient {
    if !lab.secured() {
        return kafka_dr::connect::ConnectClient::new(
            dc,
            &lab.connect(dc),
            Duration::from_secs(20),
        )
        .expect("connect client");
    }
    // The secured lab's workers: TLS from the lab CA; dc1's wants the admin client
    // certificate, dc2's HTTP basic auth as admin.
    let tls = lab.var("KAFKA_LAB_TLS_DIR");
    let read = |p: String| std::fs::read(&p).unwrap_or_else(|e| panic!("read {p}: {e}"));
    let mut identity = None;
    let mut basic_auth = None;
    if dc == "dc1" {
        let mut pem = read(format!("{tls}/admin-cert.pem"));
        pem.push(b'\n');
        pem.extend(read(format!("{tls}/admin-key.pem")));
        identity = Some(pem);
    } else {
        basic_auth = Some(lab.creds(Principal::Admin));
    }
    let endpoint = kafka_dr::topology::ConnectEndpoint {
        url: lab.connect(dc),
        ca_pem: Some(read(lab.var("KAFKA_LAB_CA_FILE"))),
        identity_pem: identity,
        basic_auth,
    };
    kafka_dr::connect::ConnectClient::from_endpoint(dc, &endpoint, Duration::from_secs(20))
        .expect("connect client")
}

// ---------------------------------------------------------------------------------------
// Transactions: a librdkafka transactional producer, as applications and an exactly-once
// MM2 task write.
// ---------------------------------------------------------------------------------------

/// A transactional producer on one cluster (`transactional.id` given, so a second
/// producer with the same id fences this one and aborts its open transaction).
pub struct TxnProducer {
    producer: ThreadedProducer<rdkafka::producer::DefaultProducerContext>,
}

impl TxnProducer {
    /// Connects as `who` and runs InitProducerId (`init_transactions`). A short
    /// `transaction.timeout.ms` lets the coordinator abort an abandoned transaction soon.
    pub fn new(
        lab: &Lab,
        dc: &str,
        who: Principal,
        transactional_id: &str,
        transaction_timeout_ms: u32,
    ) -> Result<TxnProducer, String> {
        let mut config = lab.client_config(dc, who);
        config
            .set("transactional.id", transactional_id)
            .set("transaction.timeout.ms", transaction_timeout_ms.to_string())
            .set("message.timeout.ms", transaction_timeout_ms.to_string())
            .set("linger.ms", "5");
        let producer: ThreadedProducer<rdkafka::producer::DefaultProducerContext> =
            config.create().map_err(|e| e.to_string())?;
        producer
            .init_transactions(Duration::from_secs(30))
            .map_err(|e| e.to_string())?;
        Ok(TxnProducer { producer })
    }

    pub fn begin(&self) -> Result<(), String> {
        self.producer.begin_transaction().map_err(|e| e.to_string())
    }

    /// Sends `records` inside the current transaction and waits until they are written
    /// to the log (flush), without committing.
    pub fn send(&self, topic: &str, records: &[Rec]) -> Result<(), String> {
        for r in records {
            let mut headers = OwnedHeaders::new();
            for (k, v) in &r.headers {
                headers = headers.insert(Header {
                    key: k,
                    value: v.as_deref(),
                });
            }
            let mut rec: BaseRecord<'_, [u8], [u8], ()> = BaseRecord::to(topic)
                .partition(r.partition)
                .timestamp(r.timestamp)
                .headers(headers);
            if let Some(k) = &r.key {
                rec = rec.key(k.as_slice());
            }
            if let Some(v) = &r.value {
                rec = rec.payload(v.as_slice());
            }
            self.producer.send(rec).map_err(|(e, _)| e.to_string())?;
        }
        self.producer
            .flush(Duration::from_secs(30))
            .map_err(|e| e.to_string())
    }

    pub fn commit(&self) -> Result<(), String> {
        self.producer
            .commit_transaction(Duration::from_secs(30))
            .map_err(|e| e.to_string())
    }

    pub fn abort(&self) -> Result<(), String> {
        self.producer
            .abort_transaction(Duration::from_secs(30))
            .map_err(|e| e.to_string())
    }

    /// One whole transaction: begin, send, then commit or abort.
    pub fn transaction(&self, topic: &str, records: &[Rec], commit: bool) -> Result<(), String> {
        self.begin()?;
        self.send(topic, records)?;
        if commit {
            self.commit()
        } else {
            self.abort()
        }
    }
}

/// Every record of `topic` on `dc` that a read_committed consumer sees (committed
/// transactions and non-transactional records), partition by partition.
pub fn read_committed(lab: &Lab, dc: &str, topic: &str) -> Vec<Rec> {
    read_all_with(lab, dc, topic, "read_committed")
}

/// Remove every DENY binding of the mirror principal on `dc` (the fences tests left in
/// force). Only while no other test runs (`heal_lab`, under the exclusive guard): an
/// exactly-once MM2 (the secured lab) writes every partition of a poll in one
/// transaction, so a single topic still fenced (a test's topic whose records come back
/// on dc1) aborts them all and stops the whole flow.
fn lift_mirror_denies(lab: &Lab, dc: &str) {
    let (mirror, _) = lab.creds(Principal::Mirror);
    let client = match kafka_dr::kafka::KafkaClient::connect(
        dc,
        lab.rd_settings(dc, Principal::Admin),
        Duration::from_secs(10),
    ) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("heal: cannot reach {dc} to lift the mirror's fences: {e}");
            return;
        }
    };
    let filter = kafka_dr::kafka::AclFilter {
        principal: Some(format!("User:{mirror}")),
        permission: Some(kafka_dr::kafka::AclPermission::Deny),
        ..kafka_dr::kafka::AclFilter::default()
    };
    let lifted = client
        .describe_acls(&filter, Duration::from_secs(10))
        .and_then(|denies| {
            if !denies.is_empty() {
                client.delete_acls(&denies, Duration::from_secs(10))?;
            }
            Ok(denies.len())
        });
    match lifted {
        Ok(0) => {}
        Ok(n) => eprintln!("heal: lifted {n} DENY binding(s) of the mirror on {dc}"),
        Err(e) => eprintln!("heal: cannot lift the mirror's fences on {dc}: {e}"),
    }
}

/// Remove the replication fence's DENY WRITE on the mirror principal's transactional ids
/// on `dc` (the flow's tasks' prefix, or `*`): a failover test leaves its fence in force,
/// and those bindings are shared by every replication fence of the lab, so they would
/// refuse the mirror's transactions in the tests after it.
pub fn allow_mirror_transactions(lab: &Lab, dc: &str) {
    let (mirror, _) = lab.creds(Principal::Mirror);
    let client = match kafka_dr::kafka::KafkaClient::connect(
        dc,
        lab.rd_settings(dc, Principal::Admin),
        Duration::from_secs(10),
    ) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("heal: cannot reach {dc} to lift the transactional-id fence: {e}");
            return;
        }
    };
    let filter = kafka_dr::kafka::AclFilter {
        principal: Some(format!("User:{mirror}")),
        permission: Some(kafka_dr::kafka::AclPermission::Deny),
        resource_type: Some(kafka_dr::kafka::ResourceType::TransactionalId),
        ..kafka_dr::kafka::AclFilter::default()
    };
    let lifted = client
        .describe_acls(&filter, Duration::from_secs(10))
        .and_then(|denies| {
            if !denies.is_empty() {
                client.delete_acls(&denies, Duration::from_secs(10))?;
            }
            Ok(())
        });
    if let Err(e) = lifted {
        eprintln!("heal: cannot lift the transactional-id fence on {dc}: {e}");
    }
}
