//! `ConnectClient` against the real lab's Connect workers (no mock of Connect).
//!
//! Only the dc1 worker (idle: the reverse flow is not running) gets connectors, each with a
//! fresh name, and each is deleted at the end. The dc2 worker's `mm2-dc1-dc2-*` connectors
//! are only read. The test connector is a MirrorSourceConnector dc2 -> dc1 restricted to a
//! topic that does not exist, with offset syncs, heartbeat replication and topic config/ACL
//! sync off, so that it writes nothing to either cluster.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kafka_dr::connect::{
    mirror_source_offset, parse_mirror_source_offset, ConfigOutcome, ConnectClient, ConnectError,
    ConnectorState, TargetState,
};
use kafka_dr::error::ExitCode;

// ---------------------------------------------------------------------------------------
// Lab access: the one place that reads the lab's environment (to be replaced by the
// shared harness).
// ---------------------------------------------------------------------------------------

/// `lab/kafka-lab env`, after making sure the lab is up (never stops or resets it).
fn lab_env() -> &'static BTreeMap<String, String> {
    &crate::common::lab().env
}

fn lab_var(name: &str) -> String {
    lab_env()
        .get(name)
        .cloned()
        .unwrap_or_else(|| panic!("`lab/kafka-lab env` did not print {name}"))
}

// ---------------------------------------------------------------------------------------

const TIMEOUT: Duration = Duration::from_secs(30);

fn client(dc: &str) -> ConnectClient {
    let url = lab_var(&format!("KAFKA_LAB_{}_CONNECT", dc.to_uppercase()));
    ConnectClient::new(dc, &url, TIMEOUT).expect("client")
}

fn fresh(what: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{what}-{}-{:x}", std::process::id(), nanos & 0xffff_ffff)
}

/// A MirrorSourceConnector dc2 -> dc1 for exactly `topic` (identity names).
fn test_connector_config(name: &str, topic: &str) -> BTreeMap<String, String> {
    // The workers resolve this from the lab's client dir: no password in the connector config.
    let jaas = format!(
        "${{file:{}/mirror.properties:sasl.jaas.config}}",
        lab_var("KAFKA_LAB_CLIENT_DIR")
    );
    let mut c = BTreeMap::new();
    let mut set = |k: &str, v: &str| {
        c.insert(k.to_string(), v.to_string());
    };
    set("name", name);
    set(
        "connector.class",
        "org.apache.kafka.connect.mirror.MirrorSourceConnector",
    );
    set("tasks.max", "1");
    set("source.cluster.alias", "dc2");
    set("target.cluster.alias", "dc1");
    set(
        "source.cluster.bootstrap.servers",
        &lab_var("KAFKA_LAB_DC2_BOOTSTRAP"),
    );
    set(
        "target.cluster.bootstrap.servers",
        &lab_var("KAFKA_LAB_DC1_BOOTSTRAP"),
    );
    for side in ["source.cluster.", "target.cluster."] {
        set(&format!("{side}security.protocol"), "SASL_PLAINTEXT");
        set(&format!("{side}sasl.mechanism"), "PLAIN");
        set(&format!("{side}sasl.jaas.config"), &jaas);
    }
    set("topics", &topic.replace('.', "\\."));
    // Only the default's internal-topic exclusions: `.replica` topics must be copyable here.
    set(
        "topics.exclude",
        "mm2.*\\.internal, .*[\\-\\.]internal, __.*, connect-.*",
    );
    set(
        "replication.policy.class",
        "org.apache.kafka.connect.mirror.IdentityReplicationPolicy",
    );
    set("emit.offset-syncs.enabled", "false");
    set("heartbeats.replication.enabled", "false");
    set("sync.topic.configs.enabled", "false");
    set("sync.topic.acls.enabled", "false");
    set("replication.factor", "1");
    set("refresh.topics.interval.seconds", "600");
    for k in ["key.converter", "value.converter", "header.converter"] {
        set(k, "org.apache.kafka.connect.converters.ByteArrayConverter");
    }
    c
}

#[tokio::test]
async fn version_and_capabilities_of_both_workers() {
    for dc in ["dc1", "dc2"] {
        let c = client(dc);
        let info = c.version().await.expect("GET /");
        let v = &info.version;
        assert!(v.kafka.is_some(), "{dc}: unreadable version {}", v.raw);
        assert!(v.supports_offsets_api(), "{dc}: {v}");
        assert!(v.supports_stop(), "{dc}: {v}");
        assert!(v.supports_initial_state(), "{dc}: {v}");
        assert!(!info.commit.is_empty());
        assert!(info
            .kafka_cluster_id
            .as_deref()
            .is_some_and(|s| !s.is_empty()));
        assert_eq!(c.connect_version().await.unwrap(), info.version);
    }
}

#[tokio::test]
async fn reads_the_forward_flow_without_touching_it() {
    let c = client("dc2");
    let names = c.list_connectors().await.unwrap();
    for wanted in [
        "mm2-dc1-dc2-source",
        "mm2-dc1-dc2-checkpoint",
        "mm2-dc1-dc2-heartbeat",
    ] {
        assert!(
            names.iter().any(|n| n == wanted),
            "{wanted} not in {names:?}"
        );
    }
    let s = c.status("mm2-dc1-dc2-heartbeat").await.unwrap();
    assert_eq!(s.name, "mm2-dc1-dc2-heartbeat");
    assert!(!s.worker_id.is_empty());
    let cfg = c.config("mm2-dc1-dc2-source").await.unwrap();
    assert_eq!(
        cfg.get("connector.class").map(String::as_str),
        Some("org.apache.kafka.connect.mirror.MirrorSourceConnector")
    );
    // The forward source connector's offsets parse as MirrorSourceConnector offsets.
    for o in c
        .get_mirror_source_offsets("mm2-dc1-dc2-source")
        .await
        .unwrap()
    {
        assert_eq!(o.source_alias, "dc1");
        assert!(o.partition >= 0);
    }
}

#[tokio::test]
async fn unknown_connector_is_not_found() {
    let c = client("dc1");
    let name = fresh("kafka-dr-no-such-connector");
    let e = c.status(&name).await.unwrap_err();
    assert!(
        matches!(&e, ConnectError::NotFound { connector, .. } if connector == &name),
        "{e}"
    );
    assert!(e.to_string().contains(&name), "{e}");
    assert!(e.to_string().contains("cluster `dc1`"), "{e}");
    assert_eq!(e.exit_code(), ExitCode::Failure);
    assert!(c.config(&name).await.unwrap_err().is_not_found());
    assert!(c.get_offsets(&name).await.unwrap_err().is_not_found());
    assert!(c.pause(&name).await.unwrap_err().is_not_found());
    assert!(c.delete(&name).await.unwrap_err().is_not_found());
    assert!(!c.exists(&name).await.unwrap());
    let e = c
        .wait_for_state(
            &name,
            TargetState::Running,
            Duration::from_secs(5),
            Duration::from_millis(200),
            |_, _| {},
        )
        .await
        .unwrap_err();
    assert!(e.is_not_found(), "{e}");
}

#[tokio::test]
async fn closed_port_is_unreachable_within_the_timeout() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    }; // closed again here
    let url = format!("http://kafka-dr:secret-pw@127.0.0.1:{port}");
    let c = ConnectClient::new("dc1", &url, Duration::from_secs(2)).unwrap();
    let start = Instant::now();
    let e = c.status("anything").await.unwrap_err();
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "{:?}",
        start.elapsed()
    );
    assert!(matches!(e, ConnectError::Unreachable { .. }), "{e}");
    assert_eq!(e.exit_code(), ExitCode::Unreachable);
    let text = format!("{e} {e:?}");
    assert!(!text.contains("secret-pw"), "{text}");
    assert!(text.contains(&format!("127.0.0.1:{port}")), "{text}");
    assert!(text.contains("cluster `dc1`"), "{text}");
}

#[tokio::test]
async fn silent_listener_is_unreachable_after_the_total_timeout() {
    // Accepts connections (the kernel does, from the backlog) but never answers.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let c = ConnectClient::new(
        "dc2",
        &format!("http://127.0.0.1:{port}"),
        Duration::from_millis(1500),
    )
    .unwrap();
    let start = Instant::now();
    let e = c.version().await.unwrap_err();
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_millis(1400) && waited < Duration::from_secs(4),
        "{waited:?}"
    );
    assert!(matches!(e, ConnectError::Unreachable { .. }), "{e}");
    assert!(e.to_string().contains("no answer in time"), "{e}");
    drop(listener);
}

/// Create STOPPED, seed offsets, read them back, run, stop, reset, delete: the reverse-flow
/// seeding sequence, on a connector of our own.
#[tokio::test]
async fn mirror_source_connector_lifecycle_with_offsets() {
    let c = Arc::new(client("dc1"));
    let name = fresh("kafka-dr-connecttest");
    let topic = fresh("app.connecttest");
    // Run in a task so that a failed assertion still lets us delete the connector.
    let run = tokio::spawn({
        let (c, name, topic) = (c.clone(), name.clone(), topic.clone());
        async move { lifecycle(&c, &name, &topic).await }
    })
    .await;
    let cleanup = c.delete(&name).await;
    match run {
        Err(join) if join.is_panic() => std::panic::resume_unwind(join.into_panic()),
        Err(join) => panic!("lifecycle task: {join}"),
        Ok(Err(e)) => panic!("lifecycle failed: {e}"),
        Ok(Ok(())) => {}
    }
    cleanup.expect("delete the test connector");
    // The config goes at once; the status record follows shortly after.
    assert!(!c.exists(&name).await.unwrap());
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match c.status(&name).await {
            Err(e) if e.is_not_found() => break,
            Err(e) => panic!("status after delete: {e}"),
            Ok(s) if Instant::now() > deadline => panic!("status still there: {s:?}"),
            Ok(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

async fn lifecycle(c: &ConnectClient, name: &str, topic: &str) -> Result<(), ConnectError> {
    let config = test_connector_config(name, topic);
    let poll = Duration::from_millis(200);
    let wait = Duration::from_secs(60);

    // Created already stopped: never runs, no tasks.
    c.create(name, &config, Some(TargetState::Stopped)).await?;
    let e = c
        .create(name, &config, Some(TargetState::Stopped))
        .await
        .unwrap_err();
    assert!(matches!(e, ConnectError::AlreadyExists { .. }), "{e}");
    let mut seen = 0;
    let s = c
        .wait_for_state(name, TargetState::Stopped, wait, poll, |_, _| seen += 1)
        .await?;
    assert!(seen >= 1);
    assert_eq!(s.connector_state, ConnectorState::Stopped);
    assert!(s.tasks.is_empty());
    assert_eq!(c.put_config(name, &config).await?, ConfigOutcome::Unchanged);

    // A connector that never ran has no offsets.
    assert_eq!(c.get_offsets(name).await?, vec![]);

    // Seed: partition 0 starts at 42 (stored 41), partition 1 at 0 (tombstone).
    let seed = vec![
        mirror_source_offset("dc2", topic, 0, 42).unwrap(),
        mirror_source_offset("dc2", topic, 1, 0).unwrap(),
        mirror_source_offset("dc2", topic, 2, 1).unwrap(),
    ];
    let msg = c.patch_offsets(name, &seed).await?;
    assert!(!msg.is_empty());
    // The worker answers once the offsets are written; its own view of the offsets topic
    // (which GET reads) catches up a moment later.
    let deadline = Instant::now() + Duration::from_secs(30);
    let back = loop {
        let back = c.get_mirror_source_offsets(name).await?;
        if back.iter().any(|o| o.partition == 0) || Instant::now() > deadline {
            break back;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let p0 = back
        .iter()
        .find(|o| o.partition == 0)
        .unwrap_or_else(|| panic!("partition 0 not read back after `{msg}`: {back:?}"));
    assert_eq!(p0.source_alias, "dc2");
    assert_eq!(p0.topic, topic);
    assert_eq!(p0.last_copied, Some(41));
    assert_eq!(p0.next_offset_to_copy(), Some(42));
    let p2 = back
        .iter()
        .find(|o| o.partition == 2)
        .expect("partition 2 read back");
    assert_eq!(p2.last_copied, Some(0));
    if let Some(p1) = back.iter().find(|o| o.partition == 1) {
        assert_eq!(
            p1.next_offset_to_copy(),
            None,
            "tombstone reads as no position"
        );
    }
    for raw in c.get_offsets(name).await? {
        parse_mirror_source_offset(&raw).unwrap();
    }

    // A negative offset is refused by the worker (MirrorUtils.validateSourceOffset; the
    // worker wraps the connector's ConnectException into a 500).
    let mut negative = mirror_source_offset("dc2", topic, 3, 5).unwrap();
    negative
        .offset
        .as_mut()
        .unwrap()
        .insert("offset".into(), (-1).into());
    let e = c.patch_offsets(name, &[negative]).await.unwrap_err();
    assert!(
        matches!(&e, ConnectError::Http { message, .. } if message.contains("cannot be negative")),
        "{e}"
    );

    // Config change while stopped keeps it stopped.
    let mut changed = config.clone();
    changed.insert("refresh.topics.interval.seconds".into(), "599".into());
    assert_eq!(c.put_config(name, &changed).await?, ConfigOutcome::Updated);
    assert_eq!(
        c.put_config(name, &changed).await?,
        ConfigOutcome::Unchanged
    );
    c.wait_for_state(name, TargetState::Stopped, wait, poll, |_, _| {})
        .await?;

    // Resume: RUNNING (no tasks: the topic does not exist).
    c.resume(name).await?;
    let s = c
        .wait_for_state(name, TargetState::Running, wait, poll, |_, _| {})
        .await?;
    assert_eq!(s.connector_state, ConnectorState::Running);

    // Offsets cannot change while it runs: a clear WrongState, not a bare 400.
    let e = c.patch_offsets(name, &seed).await.unwrap_err();
    assert!(matches!(e, ConnectError::WrongState { .. }), "{e}");
    assert!(e.to_string().contains("stop"), "{e}");
    let e = c.reset_offsets(name).await.unwrap_err();
    assert!(matches!(e, ConnectError::WrongState { .. }), "{e}");

    // Waiting for a state it will not reach times out with the last status.
    let e = c
        .wait_for_state(
            name,
            TargetState::Paused,
            Duration::from_millis(600),
            poll,
            |_, _| {},
        )
        .await
        .unwrap_err();
    match &e {
        ConnectError::WaitTimeout {
            last: Some(last), ..
        } => {
            assert_eq!(last.connector_state, ConnectorState::Running)
        }
        other => panic!("expected WaitTimeout with a status, got {other}"),
    }

    // Restart with tasks answers with a status; pause and resume.
    let restarted = c.restart(name, true, false).await?;
    assert!(restarted.is_some());
    c.wait_for_state(name, TargetState::Running, wait, poll, |_, _| {})
        .await?;
    c.pause(name).await?;
    c.wait_for_state(name, TargetState::Paused, wait, poll, |_, _| {})
        .await?;
    c.resume(name).await?;
    c.wait_for_state(name, TargetState::Running, wait, poll, |_, _| {})
        .await?;

    // Stop; the seeded offsets survived the run (no task ever copied anything).
    c.stop(name).await?;
    c.wait_for_state(name, TargetState::Stopped, wait, poll, |_, _| {})
        .await?;
    let back = c.get_mirror_source_offsets(name).await?;
    let p0 = back.iter().find(|o| o.partition == 0).expect("partition 0");
    assert_eq!(p0.next_offset_to_copy(), Some(42));

    // Reset forgets them all.
    c.reset_offsets(name).await?;
    let after: Vec<_> = c
        .get_mirror_source_offsets(name)
        .await?
        .into_iter()
        .filter(|o| o.last_copied.is_some())
        .collect();
    assert_eq!(after, vec![]);
    Ok(())
}

// ---------------------------------------------------------------------------------------
// End to end: does a seeded offset really make MM2 start where we say?
// ---------------------------------------------------------------------------------------

fn kafka_config(dc: &str) -> rdkafka::ClientConfig {
    let mut c = rdkafka::ClientConfig::new();
    c.set(
        "bootstrap.servers",
        lab_var(&format!("KAFKA_LAB_{}_BOOTSTRAP", dc.to_uppercase())),
    )
    .set("security.protocol", "SASL_PLAINTEXT")
    .set("sasl.mechanism", "PLAIN")
    .set("sasl.username", lab_var("KAFKA_LAB_ADMIN_USER"))
    .set("sasl.password", lab_var("KAFKA_LAB_ADMIN_PASSWORD"))
    .set("log_level", "3");
    c
}

async fn create_topic(dc: &str, topic: &str, partitions: i32) {
    use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
    let admin: AdminClient<_> = kafka_config(dc).create().expect("admin client");
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    let new = NewTopic::new(topic, partitions, TopicReplication::Fixed(1));
    for r in admin
        .create_topics([&new], &opts)
        .await
        .expect("create_topics")
    {
        r.unwrap_or_else(|(t, e)| panic!("create {t} on {dc}: {e}"));
    }
}

async fn delete_topic(dc: &str, topic: &str) {
    use rdkafka::admin::{AdminClient, AdminOptions};
    let admin: AdminClient<_> = kafka_config(dc).create().expect("admin client");
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    let _ = admin.delete_topics(&[topic], &opts).await;
}

/// Values `p<partition>-<offset>` (offsets of a fresh topic are 0, 1, ...).
fn produce(dc: &str, topic: &str, counts: &[(i32, usize)]) {
    use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
    let p: ThreadedProducer<DefaultProducerContext> = kafka_config(dc)
        .set("enable.idempotence", "false")
        .set("message.timeout.ms", "15000")
        .create()
        .expect("producer");
    for &(partition, n) in counts {
        for i in 0..n {
            let v = format!("p{partition}-{i}");
            p.send(
                BaseRecord::<'_, [u8], [u8]>::to(topic)
                    .partition(partition)
                    .payload(v.as_bytes()),
            )
            .map_err(|(e, _)| e)
            .expect("send");
        }
    }
    p.flush(Duration::from_secs(30)).expect("flush");
}

/// Every value of `topic` on `dc`, by partition, once `want` records have arrived.
fn read_values(dc: &str, topic: &str, partitions: i32, want: usize) -> BTreeMap<i32, Vec<String>> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::{Message, Offset, TopicPartitionList};
    let consumer: BaseConsumer = kafka_config(dc)
        .set("group.id", fresh("kdr-connecttest-reader"))
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition_offset(topic, p, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&tpl).expect("assign");
    let mut out: BTreeMap<i32, Vec<String>> = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut got = 0;
    while got < want && Instant::now() < deadline {
        // Errors are expected while the topic does not exist yet on the target (MM2
        // creates it): keep polling.
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(500)) {
            let v = String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned();
            out.entry(m.partition()).or_default().push(v);
            got += 1;
        }
    }
    // Anything beyond `want` would be a bug too: give it a moment to show up.
    let until = Instant::now() + Duration::from_secs(3);
    while Instant::now() < until {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(200)) {
            let v = String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned();
            out.entry(m.partition()).or_default().push(v);
        }
    }
    out
}

/// Seed partition 0 at next-offset 42 and partition 1 at 0 (tombstone), run the connector,
/// and check what lands on dc1: p0 from upstream offset 42, p1 from the beginning. The
/// topic ends in `.replica` so that the forward flow (dc1 -> dc2) ignores the copy on dc1
/// and no mirror loop forms; it is outside the lab topology's `app\..*` scope too.
#[tokio::test]
async fn seeded_offsets_decide_where_mirroring_starts() {
    let c = Arc::new(client("dc1"));
    let name = fresh("kafka-dr-connecttest-copy");
    let topic = format!("{}.replica", fresh("kdrtest.connect"));
    create_topic("dc2", &topic, 2).await;
    produce("dc2", &topic, &[(0, 50), (1, 20)]);
    let run = tokio::spawn({
        let (c, name, topic) = (c.clone(), name.clone(), topic.clone());
        async move { copy_run(&c, &name, &topic).await }
    })
    .await;
    let cleanup = c.delete(&name).await;
    delete_topic("dc2", &topic).await;
    delete_topic("dc1", &topic).await;
    match run {
        Err(join) if join.is_panic() => std::panic::resume_unwind(join.into_panic()),
        Err(join) => panic!("copy task: {join}"),
        Ok(Err(e)) => panic!("copy run failed: {e}"),
        Ok(Ok(())) => {}
    }
    cleanup.expect("delete the test connector");
}

async fn copy_run(c: &ConnectClient, name: &str, topic: &str) -> Result<(), ConnectError> {
    let poll = Duration::from_millis(250);
    let wait = Duration::from_secs(60);
    c.create(
        name,
        &test_connector_config(name, topic),
        Some(TargetState::Stopped),
    )
    .await?;
    c.wait_for_state(name, TargetState::Stopped, wait, poll, |_, _| {})
        .await?;
    c.patch_offsets(
        name,
        &[
            mirror_source_offset("dc2", topic, 0, 42).unwrap(),
            mirror_source_offset("dc2", topic, 1, 0).unwrap(),
        ],
    )
    .await?;
    c.resume(name).await?;
    let s = c
        .wait_for_state(name, TargetState::Running, wait, poll, |_, _| {})
        .await?;
    let topic_owned = topic.to_string();
    let copied = tokio::task::spawn_blocking(move || read_values("dc1", &topic_owned, 2, 8 + 20))
        .await
        .expect("reader");
    let p0: Vec<String> = (42..50).map(|i| format!("p0-{i}")).collect();
    let p1: Vec<String> = (0..20).map(|i| format!("p1-{i}")).collect();
    assert_eq!(
        copied.get(&0),
        Some(&p0),
        "partition 0 (status {})",
        s.summary()
    );
    assert_eq!(copied.get(&1), Some(&p1), "partition 1");

    // Stopping commits the task's offsets: MM2 itself stores the LAST COPIED offset.
    c.stop(name).await?;
    c.wait_for_state(name, TargetState::Stopped, wait, poll, |_, _| {})
        .await?;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let offsets = c.get_mirror_source_offsets(name).await?;
        let next = |p: i32| {
            offsets
                .iter()
                .find(|o| o.partition == p)
                .and_then(|o| o.next_offset_to_copy())
        };
        if next(0) == Some(50) && next(1) == Some(20) {
            let last0 = offsets.iter().find(|o| o.partition == 0).unwrap();
            assert_eq!(last0.last_copied, Some(49));
            break;
        }
        assert!(
            Instant::now() < deadline,
            "offsets after the run: {offsets:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Ok(())
}
