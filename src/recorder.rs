//! The recorder as a service (issue 14): what `kafka-dr deltas record --follow` knows
//! between passes, as Prometheus metrics, and the small HTTP server of
//! `--metrics-addr HOST:PORT` that serves them (`GET /metrics`; anything else is 404).
//!
//! Metrics are kept with `prometheus-client` (the Prometheus project's own Rust client:
//! OpenMetrics text, typed label sets, no global registry). Each pass replaces the label
//! sets it owns (topics, groups, connectors), so a topic or group that went away does not
//! stay as a stale series, and memory is bounded by what one pass sees. The server is a
//! plain tokio listener answering one request per connection with a read timeout: it
//! needs no routing, TLS or keep-alive, and a scraper that stalls cannot hold it.
//!
//! The follow loop (cli/deltas.rs) hands it each pass's summary; `observe` reads what
//! the summary does not hold (connector states, fences, position and sync ages, the
//! newest checkpoint) and `pass_line_*` make the one line per pass. It writes to no
//! cluster and to no journal.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::actions::common::{self, first_line};
use crate::actions::deltas_record::{DeltasSummary, Follow, LagSource};
use crate::dr::gaps;
use crate::dr::marks::Marks;
use crate::error::Error;
use crate::exit_code::ExitCode;
use crate::journal::Journal;
use crate::topology::{Policy, Topology};

type Labels = Vec<(String, String)>;
type FloatGauge = Gauge<f64, AtomicU64>;
/// A connector's name, its state, and its tasks' (id, state).
pub type ConnectorStates = (String, String, Vec<(u32, String)>);

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Every metric the recorder exports. Cheap to clone (the metrics are shared handles).
#[derive(Clone)]
pub struct Metrics {
    registry: Arc<Registry>,
    pub lag: Family<Labels, Gauge>,
    pub rpo: Family<Labels, Gauge>,
    pub lag_unknown: Family<Labels, Gauge>,
    pub sync_age: Family<Labels, FloatGauge>,
    pub checkpoint_age: Family<Labels, FloatGauge>,
    pub connector_state: Family<Labels, Gauge>,
    pub task_state: Family<Labels, Gauge>,
    pub positions: Family<Labels, Gauge>,
    pub position_age: Family<Labels, FloatGauge>,
    pub fence_in_place: Family<Labels, Gauge>,
    pub cluster_up: Family<Labels, Gauge>,
    pub gap: Family<Labels, Gauge>,
    pub pass_duration: FloatGauge,
    pub last_success: FloatGauge,
    pub passes: Family<Labels, Counter>,
    pub errors: Family<Labels, Counter>,
    pub recreated: Family<Labels, Counter>,
    /// Not a metric: MM2's checkpoints as read so far, kept between passes.
    pub checkpoints: Arc<Mutex<CheckpointCache>>,
}

/// MM2's newest checkpoint per (group, target-side topic, partition): (upstream offset,
/// timestamp ms), kept from pass to pass. Each pass reads only what was appended to the
/// checkpoints topic since the last one: at 1,000 groups it holds hundreds of thousands
/// of records, and reading it whole every 10 s would be most of the recorder's work.
#[derive(Debug, Default)]
pub struct CheckpointCache {
    /// The (cluster, topic) it holds; another one (the roles swapped) starts afresh.
    of: Option<(String, String)>,
    next: HashMap<i32, i64>,
    newest: NewestCheckpoints,
}

/// (group, target-side topic, partition) -> (upstream offset, timestamp ms).
pub type NewestCheckpoints = BTreeMap<(String, String, i32), (i64, i64)>;

impl CheckpointCache {
    /// Read what was appended since the last refresh and return the newest checkpoints.
    /// A topic recreated or truncated since is read whole again.
    pub fn refresh(
        &mut self,
        client: &crate::kafka::KafkaClient,
        cluster: &str,
        topic: &str,
        timeout: Duration,
    ) -> Result<&NewestCheckpoints, crate::kafka::KafkaError> {
        let of = (cluster.to_string(), topic.to_string());
        if self.of.as_ref() != Some(&of) {
            *self = CheckpointCache {
                of: Some(of),
                ..CheckpointCache::default()
            };
        }
        let read = match client.read_checkpoints_since(topic, &self.next, timeout) {
            Err(crate::kafka::KafkaError::LogRewound { .. }) => {
                self.next.clear();
                self.newest.clear();
                client.read_checkpoints_since(topic, &self.next, timeout)
            }
            other => other,
        };
        let (read, next) = read?;
        for c in read {
            // In log order per partition, and one key lives in one partition: a later
            // record of a key replaces the earlier one.
            self.newest.insert(
                (c.group, c.topic, c.partition),
                (c.upstream, c.timestamp_ms),
            );
        }
        self.next = next;
        Ok(&self.newest)
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut r = Registry::with_prefix("kafka_dr");
        let m = Metrics {
            registry: Arc::new(Registry::default()),
            lag: Family::default(),
            rpo: Family::default(),
            lag_unknown: Family::default(),
            sync_age: Family::default(),
            checkpoint_age: Family::default(),
            connector_state: Family::default(),
            task_state: Family::default(),
            positions: Family::default(),
            position_age: Family::default(),
            fence_in_place: Family::default(),
            cluster_up: Family::default(),
            gap: Family::default(),
            pass_duration: FloatGauge::default(),
            last_success: FloatGauge::default(),
            passes: Family::default(),
            errors: Family::default(),
            checkpoints: Arc::new(Mutex::new(CheckpointCache::default())),
            recreated: Family::default(),
        };
        r.register(
            "replication_lag_records",
            "Records on the primary not yet copied by MM2, per topic (last pass)",
            m.lag.clone(),
        );
        r.register(
            "rpo_records",
            "The replication lag summed over every in-scope partition of the flow: the records a failover now would lose",
            m.rpo.clone(),
        );
        r.register(
            "lag_unknown_partitions",
            "In-scope partitions whose lag could not be measured in the last pass",
            m.lag_unknown.clone(),
        );
        r.register(
            "offset_sync_age_seconds",
            "Age of the newest MM2 offset sync recorded for the flow (since kafka-dr first saw it)",
            m.sync_age.clone(),
        );
        r.register(
            "checkpoint_age_seconds",
            "Age of the newest MM2 checkpoint of the flow on the backup (its record timestamp)",
            m.checkpoint_age.clone(),
        );
        r.register(
            "connector_state",
            "1 for the state each MM2 connector of the flow is in",
            m.connector_state.clone(),
        );
        r.register(
            "connector_task_state",
            "1 for the state each task of each MM2 connector of the flow is in",
            m.task_state.clone(),
        );
        r.register(
            "group_positions_recorded",
            "Partitions with a recorded committed position, per consumer group",
            m.positions.clone(),
        );
        r.register(
            "group_position_age_seconds",
            "Age of the newest recorded position of the group",
            m.position_age.clone(),
        );
        r.register(
            "fence_in_place",
            "1 when the journal holds the fence (ACL DENY bindings) as in force on the cluster: app-writes on the backup is the application guard",
            m.fence_in_place.clone(),
        );
        r.register(
            "cluster_up",
            "1 when the cluster answered in the last pass",
            m.cluster_up.clone(),
        );
        r.register(
            "silent_gap_partitions",
            "Silent gaps per kind: expired-before-copied (partitions whose records the primary expired before MM2 copied them), checkpoint-stale (group-partitions whose newest checkpoint is over 5 emit intervals (at least 30 s) old while the group committed more than 2 x offset.lag.max past it), offset-syncs-stalled (partitions MM2 copied more than 10 x offset.lag.max records of since their newest offset sync)",
            m.gap.clone(),
        );
        r.register(
            "last_pass_duration_seconds",
            "Wall time of the last recording pass",
            m.pass_duration.clone(),
        );
        r.register(
            "last_success_timestamp_seconds",
            "Unix time of the last pass that recorded into the journal",
            m.last_success.clone(),
        );
        r.register(
            "passes",
            "Recording passes, by outcome (ok, failed)",
            m.passes.clone(),
        );
        r.register(
            "errors",
            "Errors by kind: primary-unreachable, backup-copy-failed, connect-unreachable, journal, kafka, other",
            m.errors.clone(),
        );
        r.register(
            "topics_recreated",
            "Topics found recreated (their id changed since the previous pass), by cluster: a pass sees each recreation once, so this counts them",
            m.recreated.clone(),
        );
        Metrics {
            registry: Arc::new(r),
            ..m
        }
    }

    /// The OpenMetrics text exposition of every metric.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }

    /// Count an error of `kind`.
    pub fn error(&self, kind: &str) {
        self.errors.get_or_create(&labels(&[("kind", kind)])).inc();
    }

    pub fn flow_labels(flow: &str) -> Labels {
        labels(&[("flow", flow)])
    }

    pub fn set_cluster_up(&self, cluster: &str, up: bool) {
        self.cluster_up
            .get_or_create(&labels(&[("cluster", cluster)]))
            .set(i64::from(up));
    }

    /// Replace the per-topic lags with this pass's.
    pub fn set_lags(&self, flow: &str, by_topic: &[(String, i64)], total: i64, unknown: usize) {
        self.lag.clear();
        for (topic, lag) in by_topic {
            self.lag
                .get_or_create(&labels(&[("flow", flow), ("topic", topic)]))
                .set(*lag);
        }
        self.rpo.get_or_create(&Self::flow_labels(flow)).set(total);
        self.lag_unknown
            .get_or_create(&Self::flow_labels(flow))
            .set(i64::try_from(unknown).unwrap_or(i64::MAX));
    }

    /// Replace the connector and task states with this pass's: `(connector, state,
    /// tasks as (id, state))`.
    pub fn set_connectors(&self, flow: &str, states: &[ConnectorStates]) {
        self.connector_state.clear();
        self.task_state.clear();
        for (connector, state, tasks) in states {
            self.connector_state
                .get_or_create(&labels(&[
                    ("flow", flow),
                    ("connector", connector),
                    ("state", state),
                ]))
                .set(1);
            for (id, t) in tasks {
                self.task_state
                    .get_or_create(&labels(&[
                        ("flow", flow),
                        ("connector", connector),
                        ("task", &id.to_string()),
                        ("state", t),
                    ]))
                    .set(1);
            }
        }
    }

    /// Replace the per-group figures: `(group, partitions, age in seconds)`.
    pub fn set_groups(&self, groups: &[(String, usize, f64)]) {
        self.positions.clear();
        self.position_age.clear();
        for (group, n, age) in groups {
            let l = labels(&[("group", group)]);
            self.positions
                .get_or_create(&l)
                .set(i64::try_from(*n).unwrap_or(i64::MAX));
            self.position_age.get_or_create(&l).set(*age);
        }
    }

    /// Replace the fences in place: `(cluster, fence)`.
    pub fn set_fences(&self, all: &[(String, String)], active: &[(String, String)]) {
        self.fence_in_place.clear();
        for (cluster, fence) in all {
            let on = active.iter().any(|(c, f)| c == cluster && f == fence);
            self.fence_in_place
                .get_or_create(&labels(&[("cluster", cluster), ("fence", fence)]))
                .set(i64::from(on));
        }
    }

    /// Replace the silent-gap counts: `(kind, partitions)`, every kind always present.
    pub fn set_gaps(&self, flow: &str, counts: &[(&str, usize)]) {
        for (kind, n) in counts {
            self.gap
                .get_or_create(&labels(&[("flow", flow), ("kind", kind)]))
                .set(i64::try_from(*n).unwrap_or(i64::MAX));
        }
    }
}

/// Bind `addr` now (so a taken port fails the command at once, with the address), then
/// serve `/metrics` on `runtime` until the process ends.
pub fn serve(
    runtime: &tokio::runtime::Runtime,
    addr: &str,
    metrics: Metrics,
) -> Result<SocketAddr, Error> {
    let bind_err = |e: std::io::Error| {
        Error::Usage(format!(
            "cannot serve metrics on `{addr}`: {e}\nhelp: give `--metrics-addr HOST:PORT` with a free port (e.g. `127.0.0.1:9464`), or leave it out"
        ))
    };
    let std_listener = std::net::TcpListener::bind(addr).map_err(bind_err)?;
    std_listener.set_nonblocking(true).map_err(bind_err)?;
    let local = std_listener.local_addr().map_err(bind_err)?;
    let listener = {
        let _guard = runtime.enter();
        tokio::net::TcpListener::from_std(std_listener).map_err(bind_err)?
    };
    runtime.spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                continue;
            };
            let metrics = metrics.clone();
            tokio::spawn(async move {
                // A scraper whose request head is not in within 5 s is dropped.
                let Ok(Some(head)) =
                    tokio::time::timeout(Duration::from_secs(5), read_request_head(&mut stream))
                        .await
                else {
                    return;
                };
                let request = String::from_utf8_lossy(&head);
                let path = request.split_whitespace().nth(1).unwrap_or("");
                let response = if request.starts_with("GET ")
                    && (path == "/metrics" || path.starts_with("/metrics?"))
                {
                    let body = metrics.encode();
                    format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/openmetrics-text; version=1.0.0; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    )
                } else {
                    let body = "not found: metrics are at /metrics\n";
                    format!(
                        "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    )
                };
                let _ = tokio::time::timeout(
                    Duration::from_secs(5),
                    stream.write_all(response.as_bytes()),
                )
                .await;
                let _ = stream.shutdown().await;
            });
        }
    });
    Ok(local)
}

/// The request line and headers (up to the blank line), however many reads they take: a
/// client may send them in pieces, and answering the first piece alone would answer a
/// request it did not make. At most 4 KiB is read; `None` if the client closes first.
async fn read_request_head(stream: &mut tokio::net::TcpStream) -> Option<Vec<u8>> {
    const MAX_HEAD: usize = 4096;
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < MAX_HEAD {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    Some(head)
}

/// `YYYY-MM-DDTHH:MM:SS[.fff]Z` (the journal's format) as milliseconds since the epoch.
pub fn parse_utc_ms(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || !s.ends_with('Z') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let ms = match s.get(19..s.len() - 1) {
        Some("") => 0,
        Some(frac) if frac.starts_with('.') && frac.len() >= 2 => {
            let digits: String = frac[1..].chars().chain("000".chars()).take(3).collect();
            digits.parse::<i64>().ok()?
        }
        _ => return None,
    };
    // Howard Hinnant's days_from_civil.
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 86_400 + h * 3600 + mi * 60 + sec) * 1000) + ms)
}

// ---------------------------------------------------------------------------------------
// What the follow loop observes around each pass, and its one line per pass
// ---------------------------------------------------------------------------------------

/// What `observe` saw beside the pass itself, for the pass line.
#[derive(Debug, Default)]
pub struct Observed {
    pub flow: String,
    /// Connectors of the flow that are not RUNNING (or whose tasks are not), as
    /// `name: STATE`.
    pub connectors_not_running: Vec<String>,
    /// Why the Connect worker could not be asked, if it could not.
    pub connect_error: Option<String>,
    /// Silent gaps found in this pass (`check` explains each).
    pub gaps: Vec<String>,
    /// The source connector's `offset.lag.max`, when Connect answered.
    pub offset_lag_max: Option<i64>,
    /// The checkpoint connector's `emit.checkpoints.interval.seconds`, when Connect answered.
    pub checkpoint_interval: Option<f64>,
}

/// Refresh the metrics that do not come from the pass's summary: the flow's connector
/// and task states (Connect REST of the backup), the fences the journal holds in force,
/// the recorded positions per group and their age, the age of the newest offset sync
/// (journal) and of the newest checkpoint (the backup's checkpoints topic). Nothing here
/// fails the pass: what cannot be read is counted as an error of its kind.
#[allow(clippy::too_many_arguments)]
pub fn observe(
    topology: &Topology,
    journal: &Journal,
    run_id: i64,
    runtime: &tokio::runtime::Handle,
    metrics: &Metrics,
    summary: Option<&DeltasSummary>,
    follow: &Follow,
    timeout: Duration,
) -> Observed {
    let r = &topology.replication;
    let (primary, backup) = match common::roles_before(topology, journal, Some(run_id)) {
        Ok(roles) => (roles.primary, roles.backup),
        Err(_) => (r.primary.clone(), r.backup.clone()),
    };
    let o = Observer {
        topology,
        journal,
        runtime,
        metrics,
        follow,
        timeout,
        flow: format!("{primary}->{backup}"),
        primary,
        backup,
        now: now_ms(),
    };
    let mut seen = Observed {
        flow: o.flow.clone(),
        ..Default::default()
    };
    o.connectors(&mut seen);
    o.fences();
    o.group_marks();
    let newest_sync = o.offset_syncs();
    // The checkpoint cache lives as long as the recorder; it is read only after a pass
    // that recorded (the backup answered).
    let mut cache = metrics
        .checkpoints
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(s) = summary {
        let checkpoints = o.checkpoints(&mut cache);
        o.gaps(s, &newest_sync, checkpoints, &mut seen);
    }
    seen
}

/// One `observe`: the flow it looks at, and where it reads and writes.
struct Observer<'a> {
    topology: &'a Topology,
    journal: &'a Journal,
    runtime: &'a tokio::runtime::Handle,
    metrics: &'a Metrics,
    follow: &'a Follow,
    timeout: Duration,
    flow: String,
    primary: String,
    backup: String,
    now: i64,
}

impl Observer<'_> {
    /// Seconds since a journal time (`NaN`: none).
    fn age(&self, at: Option<&str>) -> f64 {
        at.and_then(parse_utc_ms)
            .map_or(f64::NAN, |ms| (self.now - ms).max(0) as f64 / 1000.0)
    }

    /// (1) The flow's connector and task states, and the two settings the gaps need.
    fn connectors(&self, seen: &mut Observed) {
        let r = &self.topology.replication;
        let connectors = if self.primary == r.backup && self.backup == r.primary {
            &r.reverse_connectors
        } else {
            &r.forward_connectors
        };
        let names = [
            &connectors.source,
            &connectors.checkpoint,
            &connectors.heartbeat,
        ];
        match common::connect(self.topology, &self.backup, self.timeout) {
            Ok(Some(client)) => {
                let mut states = Vec::new();
                for name in names {
                    match self.runtime.block_on(client.status_if_exists(name)) {
                        Ok(Some(s)) => {
                            let state = s.connector_state.as_str().to_string();
                            let tasks: Vec<(u32, String)> = s
                                .tasks
                                .iter()
                                .map(|t| (t.id, t.state.as_str().to_string()))
                                .collect();
                            if let Some(why) = not_running(name, &state, &tasks) {
                                seen.connectors_not_running.push(why);
                            }
                            states.push((name.clone(), state, tasks));
                        }
                        Ok(None) => {
                            seen.connectors_not_running.push(format!("{name}: MISSING"));
                            states.push((name.clone(), "MISSING".to_string(), Vec::new()));
                        }
                        Err(e) => {
                            seen.connect_error = Some(first_line(&e.to_string()).to_string());
                            break;
                        }
                    }
                }
                self.metrics.set_connectors(&self.flow, &states);
                seen.offset_lag_max = self
                    .runtime
                    .block_on(client.config(&connectors.source))
                    .ok()
                    .map(|c| gaps::offset_lag_max(Some(&c)));
                seen.checkpoint_interval = self
                    .runtime
                    .block_on(client.config(&connectors.checkpoint))
                    .ok()
                    .and_then(|c| gaps::checkpoint_interval(&c));
            }
            Ok(None) => {}
            Err(e) => seen.connect_error = Some(first_line(&e.to_string()).to_string()),
        }
        if seen.connect_error.is_some() {
            self.metrics.error("connect-unreachable");
            self.metrics.set_connectors(&self.flow, &[]);
        }
    }

    /// (2) The fences in force, as journaled.
    fn fences(&self) {
        let Ok(active) = self.journal.active_fences(None) else {
            return;
        };
        let active: Vec<(String, String)> =
            active.into_iter().map(|f| (f.cluster, f.name)).collect();
        let mut all: Vec<(String, String)> = vec![
            (self.backup.clone(), "app-writes".to_string()),
            (self.backup.clone(), "replication-into-backup".to_string()),
            (self.primary.clone(), "app-writes".to_string()),
        ];
        for a in &active {
            if !all.contains(a) {
                all.push(a.clone());
            }
        }
        self.metrics.set_fences(&all, &active);
    }

    /// (3) The positions recorded per group, and their age (the marks the recorder keeps).
    fn group_marks(&self) {
        let groups = self
            .follow
            .with_marks(self.journal, &self.primary, |marks| {
                marks
                    .groups()
                    .map(|(g, gm)| (g.to_string(), gm.len(), self.age(gm.newest_recorded_at())))
                    .collect::<Vec<(String, usize, f64)>>()
            });
        if let Ok(mut groups) = groups {
            groups.sort_by(|a, b| a.0.cmp(&b.0));
            self.metrics.set_groups(&groups);
        }
    }

    /// (4) The age of the newest offset sync recorded for the flow, and each partition's
    /// newest upstream offset (for the gaps).
    fn offset_syncs(&self) -> BTreeMap<(String, i32), i64> {
        let mut newest_sync: BTreeMap<(String, i32), i64> = BTreeMap::new();
        if let Ok(syncs) = self
            .journal
            .latest_offset_syncs(&self.primary, &self.backup)
        {
            for s in &syncs {
                let e = newest_sync
                    .entry((s.topic.clone(), s.partition))
                    .or_insert(s.upstream_offset);
                *e = (*e).max(s.upstream_offset);
            }
            let newest = syncs.into_iter().filter_map(|s| s.recorded_at).max();
            self.metrics
                .sync_age
                .get_or_create(&Metrics::flow_labels(&self.flow))
                .set(self.age(newest.as_deref()));
        }
        newest_sync
    }

    /// (5) The newest checkpoint of each group-partition on the backup, read
    /// incrementally, and the age of the flow's newest. Unreadable: none (nothing is
    /// concluded from checkpoints this pass).
    fn checkpoints<'c>(&self, cache: &'c mut CheckpointCache) -> &'c NewestCheckpoints {
        let client = common::pooled_verified(
            &self.follow.clusters,
            self.topology,
            &self.backup,
            self.timeout,
        );
        let Ok(client) = client else {
            return &NO_CHECKPOINTS;
        };
        let topic = format!("{}.checkpoints.internal", self.primary);
        let checkpoints = cache
            .refresh(&client, &self.backup, &topic, self.timeout)
            .unwrap_or(&NO_CHECKPOINTS);
        let newest = checkpoints
            .values()
            .map(|(_, at)| *at)
            .filter(|t| *t >= 0)
            .max();
        self.metrics
            .checkpoint_age
            .get_or_create(&Metrics::flow_labels(&self.flow))
            .set(newest.map_or(f64::NAN, |ms| (self.now - ms).max(0) as f64 / 1000.0));
        checkpoints
    }

    /// (6) Silent gaps (`dr::gaps`), with what to do in `kafka-dr check`.
    fn gaps(
        &self,
        s: &DeltasSummary,
        newest_sync: &BTreeMap<(String, i32), i64>,
        checkpoints: &NewestCheckpoints,
        seen: &mut Observed,
    ) {
        let primary = &self.primary;
        let expired = gaps::expired_before_copied(
            s.partitions
                .iter()
                .filter(|p| p.lag_source == LagSource::Connect)
                .map(|p| (p.topic.as_str(), p.partition, p.earliest, p.next_to_copy)),
        );
        for g in expired.iter().take(5) {
            seen.gaps.push(format!(
                "`{}`[{}]: {} record(s) expired on `{primary}` before MM2 copied them (MM2 next {}, log start {})",
                g.topic, g.partition, g.records, g.next_to_copy, g.log_start
            ));
        }
        let stale = self.checkpoints_behind(checkpoints, seen);
        for g in stale.iter().take(5) {
            seen.gaps.push(format!(
                "group `{}` `{}`[{}]: its newest checkpoint is {:.0}s old (upstream {}) while it committed {} on `{primary}`",
                g.group, g.topic, g.partition, g.age_seconds, g.checkpointed, g.committed
            ));
        }
        // Only partitions with a recorded sync: one the journal lacks (its topic id was
        // not known to the pass) says nothing about MM2.
        let stalled = gaps::syncs_stalled(
            s.partitions
                .iter()
                .filter(|p| p.lag_source == LagSource::Connect)
                .filter_map(|p| {
                    let sync = newest_sync.get(&(p.topic.clone(), p.partition)).copied()?;
                    Some((
                        p.topic.as_str(),
                        p.partition,
                        p.earliest,
                        p.next_to_copy,
                        Some(sync),
                    ))
                }),
            seen.offset_lag_max.unwrap_or(gaps::DEFAULT_OFFSET_LAG_MAX),
        );
        for g in stalled.iter().take(5) {
            seen.gaps.push(format!(
                "`{}`[{}]: MM2's offset syncs stopped: {} record(s) copied since the newest sync (offset {})",
                g.topic,
                g.partition,
                g.copied_since,
                g.newest_sync.unwrap_or(0)
            ));
        }
        for r in &s.recreated {
            self.metrics
                .recreated
                .get_or_create(&labels(&[("cluster", &r.cluster)]))
                .inc();
        }
        for r in s.recreated.iter().take(5) {
            seen.gaps.push(format!(
                "`{}` on `{}` was recreated (topic id {} -> {}): MM2's offsets and syncs for it belong to the old topic",
                r.topic, r.cluster, r.old_id, r.new_id
            ));
        }
        self.metrics.set_gaps(
            &self.flow,
            &[
                ("expired-before-copied", expired.len()),
                ("checkpoint-stale", stale.len()),
                ("offset-syncs-stalled", stalled.len()),
            ],
        );
    }

    /// The group-partitions whose newest checkpoint is stale while they commit on.
    fn checkpoints_behind(
        &self,
        checkpoints: &NewestCheckpoints,
        seen: &Observed,
    ) -> Vec<gaps::CheckpointBehind> {
        self.follow
            .with_marks(self.journal, &self.primary, |marks| {
                stale_checkpoints(
                    marks,
                    checkpoints,
                    self.topology.replication.policy,
                    &self.primary,
                    self.now,
                    gaps::checkpoint_stale_after(seen.checkpoint_interval),
                    seen.offset_lag_max.unwrap_or(gaps::DEFAULT_OFFSET_LAG_MAX),
                )
            })
            .unwrap_or_default()
    }
}

/// `gaps::checkpoints_behind` of the recorded marks of `primary` and the newest
/// checkpoints (named on the target side by `policy`), in the checkpoints' order (group,
/// topic, partition). Each checkpoint is joined with its group's mark by borrowed names:
/// hundreds of thousands per pass.
fn stale_checkpoints(
    marks: &Marks,
    checkpoints: &NewestCheckpoints,
    policy: Policy,
    primary: &str,
    now_ms: i64,
    stale_after_seconds: f64,
    offset_lag_max: i64,
) -> Vec<gaps::CheckpointBehind> {
    let mut cursor = marks.cursor();
    let joined = checkpoints.iter().filter_map(|((g, target, p), newest)| {
        let topic = policy.source_topic(primary, target)?;
        let mark = cursor.get(g, topic, *p)?;
        Some((g.as_str(), topic, *p, mark.committed_offset, *newest))
    });
    gaps::checkpoints_behind_joined(joined, now_ms, stale_after_seconds, offset_lag_max)
}

/// `name: STATE[, task N STATE]` when the connector or one of its tasks is not RUNNING
/// (or it has no task).
fn not_running(name: &str, state: &str, tasks: &[(u32, String)]) -> Option<String> {
    let running =
        state == "RUNNING" && !tasks.is_empty() && tasks.iter().all(|(_, t)| t == "RUNNING");
    if running {
        return None;
    }
    let worst = tasks
        .iter()
        .find(|(_, t)| t != "RUNNING")
        .map(|(id, t)| format!(", task {id} {t}"))
        .unwrap_or_default();
    Some(format!("{name}: {state}{worst}"))
}

static NO_CHECKPOINTS: NewestCheckpoints = BTreeMap::new();

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// The metrics a successful pass sets from its summary.
pub fn record_ok(metrics: &Metrics, s: &DeltasSummary) {
    let flow = format!("{}->{}", s.primary, s.backup);
    let mut by_topic: BTreeMap<String, i64> = BTreeMap::new();
    for p in &s.partitions {
        *by_topic.entry(p.topic.clone()).or_default() += p.lag.unwrap_or(0);
    }
    let by_topic: Vec<(String, i64)> = by_topic.into_iter().collect();
    metrics.set_lags(&flow, &by_topic, s.total_lag, s.lag_unknown);
    metrics.set_cluster_up(&s.primary, true);
    metrics.set_cluster_up(&s.backup, s.backup_copy.is_some());
    if s.backup_copy.is_none() {
        metrics.error("backup-copy-failed");
    }
    metrics.last_success.set(now_ms() as f64 / 1000.0);
    metrics
        .passes
        .get_or_create(&labels(&[("outcome", "ok")]))
        .inc();
}

/// The kind a failed pass is counted under (`errors` metric), and marks the primary down
/// when it is the primary that did not answer.
pub fn error_kind(
    topology: &Topology,
    journal: &Journal,
    run_id: i64,
    metrics: &Metrics,
    e: &Error,
) -> &'static str {
    let primary = common::roles_before(topology, journal, Some(run_id))
        .map(|r| r.primary)
        .unwrap_or_else(|_| topology.replication.primary.clone());
    metrics
        .passes
        .get_or_create(&labels(&[("outcome", "failed")]))
        .inc();
    match e {
        Error::Kafka(k) if k.exit_code() == ExitCode::Unreachable => {
            let cluster = k.cluster().unwrap_or(&primary).to_string();
            metrics.set_cluster_up(&cluster, false);
            if cluster == primary {
                "primary-unreachable"
            } else {
                "backup-unreachable"
            }
        }
        Error::Unreachable(_) => {
            metrics.set_cluster_up(&primary, false);
            "primary-unreachable"
        }
        Error::Kafka(_) => "kafka",
        Error::Connect(_) => "connect-unreachable",
        Error::Journal(_) => "journal",
        _ => "other",
    }
}

/// One pass's line: human text and its JSON form.
pub struct PassLine {
    pub text: String,
    pub json: serde_json::Value,
}

pub fn pass_line_ok(
    pass: u64,
    took: Duration,
    s: &DeltasSummary,
    recovered_after: u64,
    seen: &Observed,
) -> PassLine {
    let copy = match &s.backup_copy {
        Some(c) => format!(
            "backup copy {} record(s) to `{}` on `{}`",
            c.records, c.topic, c.cluster
        ),
        None => format!("backup copy NOT written (`{}` does not answer)", s.backup),
    };
    let mut text = format!(
        "pass {pass} ok in {:.1}s: {} -> {}: {} offset sync(s) ({} new), {} position(s) of {} group(s) ({} changed; {} group(s) asked), lag {} record(s){}; {copy}",
        took.as_secs_f64(),
        s.primary,
        s.backup,
        s.offset_syncs,
        s.offset_syncs_new,
        s.group_positions,
        s.groups,
        s.group_positions_changed,
        s.groups_asked,
        s.total_lag,
        if s.lag_unknown > 0 {
            format!(" ({} partition(s) unknown)", s.lag_unknown)
        } else {
            String::new()
        }
    );
    if recovered_after > 0 {
        text.push_str(&format!(
            "; recording again after {recovered_after} failed pass(es)"
        ));
    }
    if !seen.connectors_not_running.is_empty() {
        text.push_str(&format!(
            "; not running: {}",
            seen.connectors_not_running.join(", ")
        ));
    }
    if let Some(e) = &seen.connect_error {
        text.push_str(&format!("; Connect unreachable: {e}"));
    }
    if !seen.gaps.is_empty() {
        text.push_str(&format!(
            "; SILENT GAPS (see `kafka-dr check`): {}",
            seen.gaps.join("; ")
        ));
    }
    PassLine {
        text,
        json: json!({
            "pass": pass,
            "ok": true,
            "duration_ms": took.as_millis() as u64,
            "flow": seen.flow,
            "recorded_at": s.recorded_at,
            "offset_syncs": s.offset_syncs,
            "offset_syncs_new": s.offset_syncs_new,
            "group_positions": s.group_positions,
            "group_positions_changed": s.group_positions_changed,
            "groups": s.groups,
            "groups_asked": s.groups_asked,
            "total_lag": s.total_lag,
            "lag_unknown": s.lag_unknown,
            "backup_copy": s.backup_copy,
            "recovered_after_failed_passes": recovered_after,
            "connectors_not_running": seen.connectors_not_running,
            "connect_error": seen.connect_error,
            "silent_gaps": seen.gaps,
            "notes": s.notes,
        }),
    }
}

pub fn pass_line_failed(
    pass: u64,
    took: Duration,
    e: &Error,
    kind: &str,
    failed_in_a_row: u64,
    seen: &Observed,
) -> PassLine {
    let why = first_line(&e.to_string()).to_string();
    PassLine {
        text: format!(
            "pass {pass} FAILED in {:.1}s ({kind}): {why}; the journal keeps every earlier pass; still running, next pass at the next interval ({failed_in_a_row} failed in a row)",
            took.as_secs_f64()
        ),
        json: json!({
            "pass": pass,
            "ok": false,
            "duration_ms": took.as_millis() as u64,
            "flow": seen.flow,
            "error_kind": kind,
            "error": why,
            "failed_in_a_row": failed_in_a_row,
            "connectors_not_running": seen.connectors_not_running,
            "connect_error": seen.connect_error,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dr::marks::Mark;

    #[test]
    fn a_checkpoint_far_behind_its_groups_mark_is_stale_under_either_policy() {
        let now = 1_000_000_000;
        let old = now - 600_000;
        let mut marks = Marks::default();
        let mark = |o: i64| Mark {
            committed_offset: o,
            topic_id: None,
            recorded_at: None,
        };
        marks.apply("g", "orders", 0, mark(5_000));
        marks.apply("g", "orders", 1, mark(5_000));
        marks.apply("h", "orders", 0, mark(100));
        for (policy, target) in [(Policy::Prefix, "dc1.orders"), (Policy::Identity, "orders")] {
            let mut checkpoints = NewestCheckpoints::new();
            // Far behind and old: stale.
            checkpoints.insert(("g".into(), target.into(), 0), (1_000, old));
            // As far behind, but fresh.
            checkpoints.insert(("g".into(), target.into(), 1), (1_000, now - 1_000));
            // Old, but the group has not moved past it.
            checkpoints.insert(("h".into(), target.into(), 0), (100, old));
            // No mark of that group: not concluded on.
            checkpoints.insert(("x".into(), target.into(), 0), (0, old));
            // Another source's topic (not named so from dc1): not concluded on.
            checkpoints.insert(("g".into(), "dc3.orders".into(), 0), (0, old));
            let stale = stale_checkpoints(&marks, &checkpoints, policy, "dc1", now, 300.0, 100);
            let found: Vec<_> = stale
                .iter()
                .map(|b| (b.group.as_str(), b.topic.as_str(), b.partition, b.committed))
                .collect();
            assert_eq!(found, vec![("g", "orders", 0, 5_000)], "{policy:?}");
        }
    }

    #[test]
    fn utc_times_round_trip_with_the_journal_format() {
        for ms in [0, 951_782_400_000, 1_700_000_000_123, 4_102_444_799_999] {
            let s = crate::actions::deltas_record::rfc3339(ms);
            assert_eq!(parse_utc_ms(&s), Some(ms), "{s}");
        }
        assert_eq!(
            parse_utc_ms("2026-01-01T00:00:00Z"),
            Some(1_767_225_600_000)
        );
        assert_eq!(parse_utc_ms("yesterday"), None);
        assert_eq!(
            parse_utc_ms("2026-01-01T00:00:00.5Z"),
            Some(1_767_225_600_500)
        );
    }

    #[test]
    fn a_topic_gone_from_a_pass_leaves_no_stale_series() {
        let m = Metrics::new();
        m.set_lags("dc1->dc2", &[("a".into(), 3), ("b".into(), 4)], 7, 0);
        let text = m.encode();
        assert!(
            text.contains(r#"kafka_dr_replication_lag_records{flow="dc1->dc2",topic="b"} 4"#),
            "{text}"
        );
        assert!(
            text.contains(r#"kafka_dr_rpo_records{flow="dc1->dc2"} 7"#),
            "{text}"
        );
        m.set_lags("dc1->dc2", &[("a".into(), 1)], 1, 0);
        let text = m.encode();
        assert!(!text.contains(r#"topic="b""#), "{text}");
        m.error("primary-unreachable");
        assert!(m
            .encode()
            .contains(r#"kafka_dr_errors_total{kind="primary-unreachable"} 1"#));
    }

    #[test]
    fn metrics_are_served_over_http() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let m = Metrics::new();
        m.set_cluster_up("dc1", true);
        let addr = serve(&rt, "127.0.0.1:0", m).unwrap();
        // The request is sent in two pieces, split inside the path, as a client (or the
        // network) may: the answer must be to the whole request.
        let get = |path: &str| {
            use std::io::{Read, Write};
            let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n");
            let (first, rest) = request.split_at(7);
            let mut s = std::net::TcpStream::connect(addr).unwrap();
            s.set_nodelay(true).unwrap();
            s.write_all(first.as_bytes()).unwrap();
            s.flush().unwrap();
            std::thread::sleep(Duration::from_millis(100));
            s.write_all(rest.as_bytes()).unwrap();
            let mut out = String::new();
            s.read_to_string(&mut out).unwrap();
            out
        };
        let ok = get("/metrics");
        assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
        assert!(
            ok.contains(r#"kafka_dr_cluster_up{cluster="dc1"} 1"#),
            "{ok}"
        );
        assert!(get("/").starts_with("HTTP/1.1 404"));
        // A taken port is refused with the address.
        let e = serve(&rt, &addr.to_string(), Metrics::new()).unwrap_err();
        assert!(e.to_string().contains(&addr.to_string()), "{e}");
    }
}
