//! Integration tests of `kafka_dr::kafka` against the real two-DC lab (`lab/kafka-lab`).
//!
//! Every test uses fresh topic and group names (`app.` prefix, so the `app` principal may
//! use them) and never stops, resets or kills the lab. Endpoints and credentials come from
//! `lab_env()`, the one place that knows where they come from.

use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use kafka_dr::kafka::{
    fingerprint, AclBinding, AclFilter, AclOperation, AclPermission, GroupState, KafkaClient,
    KafkaError, PatternType, ProduceRecord, ResourceType, TimestampType,
};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::{Offset, TopicPartitionList};

const T: Duration = Duration::from_secs(20);

// ---------------------------------------------------------------------------------------
// Lab access (swap this for the shared harness when it is wired)
// ---------------------------------------------------------------------------------------

/// The lab's `KAFKA_LAB_*` variables: from the environment when `KAFKA_LAB_DC1_BOOTSTRAP`
/// is set, otherwise from `lab/kafka-lab env`.
fn lab_env() -> &'static BTreeMap<String, String> {
    &crate::common::lab().env
}

fn var(name: &str) -> String {
    lab_env()
        .get(name)
        .cloned()
        .unwrap_or_else(|| panic!("lab env lacks {name}"))
}

#[derive(Clone, Copy)]
enum Who {
    Admin,
    App,
}

fn creds(who: Who) -> (String, String) {
    let p = match who {
        Who::Admin => "ADMIN",
        Who::App => "APP",
    };
    (
        var(&format!("KAFKA_LAB_{p}_USER")),
        var(&format!("KAFKA_LAB_{p}_PASSWORD")),
    )
}

/// The librdkafka map for `dc` as `who` (what the topology module would build).
fn config(dc: &str, who: Who) -> Vec<(String, String)> {
    let (user, password) = creds(who);
    config_with(
        &var(&format!("KAFKA_LAB_{}_BOOTSTRAP", dc.to_uppercase())),
        &user,
        &password,
    )
}

fn config_with(bootstrap: &str, user: &str, password: &str) -> Vec<(String, String)> {
    [
        ("bootstrap.servers", bootstrap),
        ("security.protocol", "SASL_PLAINTEXT"),
        ("sasl.mechanism", "PLAIN"),
        ("sasl.username", user),
        ("sasl.password", password),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

fn client(dc: &str, who: Who) -> KafkaClient {
    KafkaClient::connect(dc, config(dc, who), T).unwrap_or_else(|e| panic!("connect {dc}: {e}"))
}

/// A plain rdkafka consumer config (for the "application" side of tests).
fn rd_config(dc: &str, who: Who) -> ClientConfig {
    let mut c = ClientConfig::new();
    for (k, v) in config(dc, who) {
        c.set(k, v);
    }
    c.set("log_level", "3");
    c
}

fn unique(what: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "app.kdr-kafka-{what}-{}-{}",
        std::process::id(),
        nanos % 1_000_000_000_000
    )
}

fn wait_for<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let started = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            started.elapsed() < timeout,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn new_topic(admin: &KafkaClient, partitions: i32) -> String {
    let topic = unique("t");
    assert!(admin
        .create_topic(&topic, partitions, 1, &[], T)
        .expect("create topic"));
    // Metadata propagates quickly on one node, but not instantly.
    wait_for("topic metadata", T, || {
        admin
            .topic_partitions(&topic, T)
            .ok()
            .filter(|p| p.len() == partitions as usize)
    });
    topic
}

/// `n` records for one partition, with every key/value/header shape that matters.
fn sample_records(partition: i32, n: usize, base_ts: i64) -> Vec<ProduceRecord> {
    (0..n)
        .map(|i| ProduceRecord {
            partition: Some(partition),
            key: match i % 3 {
                0 => None,
                1 => Some(Vec::new()),
                _ => Some(format!("key-{i}").into_bytes()),
            },
            value: match i % 4 {
                0 => Some(format!("value-{i}").into_bytes()),
                1 => Some(Vec::new()),
                2 => None,
                _ => Some(vec![0, 255, i as u8, 10, 0]),
            },
            headers: if i % 2 == 0 {
                vec![
                    ("h1".into(), Some(format!("v{i}").into_bytes())),
                    ("null".into(), None),
                    ("h1".into(), Some(Vec::new())),
                ]
            } else {
                Vec::new()
            },
            timestamp_ms: Some(base_ts + i as i64 * 10),
        })
        .collect()
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

// ---------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------

#[test]
fn connect_cluster_id_metadata_and_describe_cluster() {
    let _lab_guard = crate::common::shared();
    let admin = client("dc1", Who::Admin);
    let id = admin.cluster_id(T).expect("cluster id");
    assert_eq!(id.len(), 22, "cluster id {id}");
    let md = admin.metadata(T).expect("metadata");
    assert_eq!(md.brokers.len(), 1);
    let port: u16 = var("KAFKA_LAB_DC1_BOOTSTRAP")
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(md.brokers[0].port, port);
    let topic = new_topic(&admin, 2);
    let md = admin.metadata(T).expect("metadata");
    assert_eq!(md.topic(&topic).expect("our topic").partitions, vec![0, 1]);

    let d = admin.describe_cluster(T).expect("describe cluster");
    assert_eq!(d.cluster_id.as_deref(), Some(id.as_str()));
    assert_eq!(d.brokers.len(), 1);
    assert!(d.controller_id.is_some());
    // admin is a super user: it may create ACLs.
    assert_eq!(
        d.may_alter_acls(),
        Some(true),
        "{:?}",
        d.authorized_operations
    );
    assert_eq!(d.may_describe_acls(), Some(true));

    // app may not alter ACLs on the cluster.
    let app = client("dc1", Who::App);
    let d = app.describe_cluster(T).expect("describe cluster as app");
    assert_eq!(
        d.may_alter_acls(),
        Some(false),
        "{:?}",
        d.authorized_operations
    );
    admin.delete_topic(&topic, T).expect("cleanup");
}

#[test]
fn unreachable_bootstrap_fails_within_the_timeout() {
    let _lab_guard = crate::common::shared();
    // A closed port on loopback.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let (user, password) = creds(Who::Admin);
    let cfg = config_with(&format!("127.0.0.1:{port}"), &user, &password);
    let started = Instant::now();
    let err = KafkaClient::connect("dcX", cfg, Duration::from_secs(3)).unwrap_err();
    let took = started.elapsed();
    assert!(took < Duration::from_millis(4000), "took {took:?}");
    assert!(matches!(err, KafkaError::Unreachable { .. }), "{err:?}");
    assert_eq!(err.exit_code(), kafka_dr::error::ExitCode::Unreachable);
    let msg = err.to_string();
    assert!(
        msg.contains("`dcX`") && msg.contains(&format!("127.0.0.1:{port}")),
        "{msg}"
    );
    assert!(!msg.contains(&password), "password leaked: {msg}");
}

#[test]
fn wrong_password_is_an_authentication_error() {
    let _lab_guard = crate::common::shared();
    let (user, password) = creds(Who::App);
    let wrong = format!("{password}-wrong");
    let cfg = config_with(&var("KAFKA_LAB_DC1_BOOTSTRAP"), &user, &wrong);
    let started = Instant::now();
    let err = KafkaClient::connect("dc1", cfg, Duration::from_secs(10)).unwrap_err();
    assert!(
        matches!(err, KafkaError::AuthenticationFailed { .. }),
        "{err:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "auth failure should be reported early"
    );
    let msg = err.to_string();
    assert!(
        !msg.contains(&wrong) && !msg.contains(&password),
        "password leaked: {msg}"
    );
    assert_eq!(err.exit_code(), kafka_dr::error::ExitCode::Failure);
}

#[test]
fn produce_watermarks_and_exact_read_back() {
    let _lab_guard = crate::common::shared();
    let admin = client("dc1", Who::Admin);
    let app = client("dc1", Who::App);
    let topic = new_topic(&admin, 2);
    let base_ts = now_ms() - 60_000;
    let recs0 = sample_records(0, 25, base_ts);
    let recs1 = sample_records(1, 7, base_ts);
    let d0 = app.produce(&topic, &recs0, T).expect("produce p0");
    let d1 = app.produce(&topic, &recs1, T).expect("produce p1");
    assert_eq!(
        d0.iter().map(|d| d.offset).collect::<Vec<_>>(),
        (0..25).collect::<Vec<i64>>()
    );
    assert!(d1.iter().all(|d| d.partition == 1));

    let wm = admin
        .watermarks(&[(topic.as_str(), 1), (topic.as_str(), 0)], T)
        .expect("watermarks");
    assert_eq!((wm[0].partition, wm[0].earliest, wm[0].latest), (1, 0, 7));
    assert_eq!((wm[1].partition, wm[1].earliest, wm[1].latest), (0, 0, 25));

    let read = admin.read_records(&topic, 0, 0, 25, T).expect("read");
    assert_eq!(read.len(), 25);
    for (i, (r, want)) in read.iter().zip(&recs0).enumerate() {
        assert_eq!(r.offset, i as i64);
        assert_eq!(r.partition, 0);
        assert_eq!(r.topic, topic);
        assert_eq!(r.key, want.key, "key at {i}");
        assert_eq!(r.value, want.value, "value at {i}");
        assert_eq!(r.headers, want.headers, "headers at {i}");
        assert_eq!(r.timestamp_ms, want.timestamp_ms.unwrap());
        assert_eq!(r.timestamp_type, TimestampType::CreateTime);
    }
    // A sub-range, and a range past the end (clamped).
    let mid = admin.read_records(&topic, 0, 5, 9, T).expect("read mid");
    assert_eq!(
        mid.iter().map(|r| r.offset).collect::<Vec<_>>(),
        vec![5, 6, 7, 8]
    );
    let tail = admin
        .read_records(&topic, 1, 5, 1000, T)
        .expect("read tail");
    assert_eq!(
        tail.iter().map(|r| r.offset).collect::<Vec<_>>(),
        vec![5, 6]
    );
    assert!(admin.read_records(&topic, 1, 7, 10, T).unwrap().is_empty());

    // Streaming, with an early stop.
    let mut seen = Vec::new();
    let s = admin
        .for_each_record(&topic, 0, 0, i64::MAX, T, |r| {
            seen.push(r.offset);
            if r.offset == 9 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })
        .expect("stream");
    assert!(s.stopped_early);
    assert_eq!(s.records, 10);
    assert_eq!(seen, (0..10).collect::<Vec<i64>>());

    // Fingerprints are stable and distinguish records.
    let again = admin.read_records(&topic, 0, 0, 25, T).unwrap();
    assert_eq!(fingerprint(&read[3]), fingerprint(&again[3]));
    assert_ne!(fingerprint(&read[3]).hash, fingerprint(&read[4]).hash);

    // Timestamps: the earliest offset with timestamp >= T.
    assert_eq!(
        admin
            .offsets_for_timestamp(&topic, 0, base_ts + 35, T)
            .unwrap(),
        Some(4)
    );
    assert_eq!(
        admin.offsets_for_timestamp(&topic, 0, base_ts, T).unwrap(),
        Some(0)
    );
    assert_eq!(
        admin
            .offsets_for_timestamp(&topic, 0, now_ms() + 3_600_000, T)
            .unwrap(),
        None
    );

    // An unknown partition or topic is named in the error.
    let err = admin.watermarks(&[(topic.as_str(), 9)], T).unwrap_err();
    assert!(
        matches!(
            err,
            KafkaError::UnknownTopicOrPartition {
                partition: Some(9),
                ..
            }
        ),
        "{err:?}"
    );
    let err = admin
        .watermarks(&[("app.kdr-no-such-topic", 0)], T)
        .unwrap_err();
    assert!(
        matches!(err, KafkaError::UnknownTopicOrPartition { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("app.kdr-no-such-topic"), "{err}");
    admin.delete_topic(&topic, T).expect("cleanup");
}

#[test]
fn delete_records_moves_the_earliest_offset() {
    let _lab_guard = crate::common::shared();
    let admin = client("dc1", Who::Admin);
    let topic = new_topic(&admin, 1);
    admin
        .produce(&topic, &sample_records(0, 10, now_ms()), T)
        .unwrap();
    let out = admin
        .delete_records(&[(topic.as_str(), 0, 4)], T)
        .expect("delete records");
    assert_eq!(out, vec![(topic.clone(), 0, 4)]);
    let wm = admin.watermarks(&[(topic.as_str(), 0)], T).unwrap();
    assert_eq!((wm[0].earliest, wm[0].latest), (4, 10));
    // Reading from 0 starts at the new log start.
    let recs = admin.read_records(&topic, 0, 0, 10, T).unwrap();
    assert_eq!(recs.first().map(|r| r.offset), Some(4));
    assert_eq!(recs.len(), 6);
    // -1: everything up to the high watermark.
    let out = admin
        .delete_records(&[(topic.as_str(), 0, -1)], T)
        .expect("delete all");
    assert_eq!(out, vec![(topic.clone(), 0, 10)]);
    let wm = admin.watermarks(&[(topic.as_str(), 0)], T).unwrap();
    assert_eq!((wm[0].earliest, wm[0].latest), (10, 10));
    assert!(admin.read_records(&topic, 0, 0, 10, T).unwrap().is_empty());
    admin.delete_topic(&topic, T).expect("cleanup");
}

#[test]
fn committed_offsets_alter_and_group_not_empty() {
    let _lab_guard = crate::common::shared();
    let admin = client("dc1", Who::Admin);
    let app = client("dc1", Who::App);
    let topic = new_topic(&admin, 2);
    app.produce(&topic, &sample_records(0, 10, now_ms()), T)
        .unwrap();
    app.produce(&topic, &sample_records(1, 10, now_ms()), T)
        .unwrap();
    let group = unique("g");

    // An application consumer commits offsets (as app, without joining the group).
    {
        let mut c = rd_config("dc1", Who::App);
        c.set("group.id", &group).set("enable.auto.commit", "false");
        let consumer: BaseConsumer = c.create().unwrap();
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(&topic, 0, Offset::Offset(7))
            .unwrap();
        tpl.add_partition_offset(&topic, 1, Offset::Offset(3))
            .unwrap();
        consumer.commit(&tpl, CommitMode::Sync).expect("commit");
    }
    let committed = admin
        .committed_offsets(&group, T)
        .expect("committed offsets");
    assert_eq!(
        committed,
        vec![
            (topic.clone(), 0, 7, String::new()),
            (topic.clone(), 1, 3, String::new())
        ]
    );
    assert!(admin
        .list_groups(T)
        .unwrap()
        .iter()
        .any(|g| g.group == group));
    let d = admin.describe_groups(&[group.as_str()], T).unwrap();
    assert_eq!(d[0].members, 0);
    assert!(d[0].state.is_inactive(), "{:?}", d[0].state);
    // A group that never existed.
    assert!(admin
        .committed_offsets(&unique("nobody"), T)
        .unwrap()
        .is_empty());

    // Alter on the empty group, read back.
    admin
        .alter_group_offsets(&group, &[(topic.as_str(), 0, 2), (topic.as_str(), 1, 9)], T)
        .expect("alter");
    let committed = admin.committed_offsets(&group, T).unwrap();
    assert_eq!(
        committed.iter().map(|c| c.2).collect::<Vec<_>>(),
        vec![2, 9]
    );
    admin
        .alter_group_offsets_with_metadata(
            &group,
            &[(topic.as_str(), 0, 5, Some("kafka-dr: test"))],
            T,
        )
        .expect("alter with metadata");
    let committed = admin.committed_offsets(&group, T).unwrap();
    assert_eq!(
        committed[0],
        (topic.clone(), 0, 5, "kafka-dr: test".to_string())
    );

    // An active member: the alteration is refused and nothing changes.
    let mut c = rd_config("dc1", Who::App);
    c.set("group.id", &group)
        .set("enable.auto.commit", "false")
        .set("session.timeout.ms", "10000");
    let member: BaseConsumer = c.create().unwrap();
    member.subscribe(&[&topic]).unwrap();
    wait_for(
        "the member to get an assignment",
        Duration::from_secs(30),
        || {
            let _ = member.poll(Duration::from_millis(200));
            member.assignment().ok().filter(|a| a.count() > 0)
        },
    );
    let d = admin.describe_groups(&[group.as_str()], T).unwrap();
    assert_eq!(d[0].members, 1);
    assert_eq!(d[0].state, GroupState::Stable);
    assert_eq!(d[0].member_details[0].assignment.len(), 2);
    let err = admin
        .alter_group_offsets(&group, &[(topic.as_str(), 0, 0)], T)
        .unwrap_err();
    match &err {
        KafkaError::GroupNotEmpty {
            group: g,
            members,
            cluster,
        } => {
            assert_eq!(
                (g.as_str(), *members, cluster.as_str()),
                (group.as_str(), 1, "dc1")
            );
        }
        other => panic!("expected GroupNotEmpty, got {other:?}"),
    }
    assert!(err.to_string().starts_with(&format!(
        "group `{group}` has 1 active member(s) on `dc1`; help:"
    )));
    assert_eq!(admin.committed_offsets(&group, T).unwrap()[0].2, 5);
    member.unsubscribe();
    drop(member);
    admin.delete_topic(&topic, T).expect("cleanup");
}

#[test]
fn acl_round_trip_and_deny_write_fence_bites() {
    let _lab_guard = crate::common::shared();
    let admin = client("dc1", Who::Admin);
    let app = client("dc1", Who::App);
    let topic = new_topic(&admin, 1);
    let one = |v: &str| ProduceRecord {
        value: Some(v.as_bytes().to_vec()),
        ..ProduceRecord::default()
    };
    app.produce(&topic, &[one("before")], T)
        .expect("app may write before the fence");

    let deny = AclBinding::literal(
        AclPermission::Deny,
        AclOperation::Write,
        ResourceType::Topic,
        &topic,
        "User:app",
    );
    assert_eq!(
        deny.to_string(),
        format!("DENY WRITE on topic `{topic}` (literal) for User:app from *")
    );
    let filter = AclFilter {
        resource_type: Some(ResourceType::Topic),
        name: Some(topic.clone()),
        ..AclFilter::default()
    };
    assert!(admin.describe_acls(&filter, T).unwrap().is_empty());
    admin
        .create_acls(std::slice::from_ref(&deny), T)
        .expect("create ACL");
    // Creating it again is accepted and changes nothing.
    admin
        .create_acls(std::slice::from_ref(&deny), T)
        .expect("create ACL again");
    assert_eq!(admin.describe_acls(&filter, T).unwrap(), vec![deny.clone()]);
    assert_eq!(
        admin.describe_acls(&deny.to_filter(), T).unwrap(),
        vec![deny.clone()]
    );
    // The prefixed ALLOW for app on `app.` is there too, under a different filter.
    let app_acls = admin
        .describe_acls(&AclFilter::for_principal("User:app"), T)
        .unwrap();
    assert!(
        app_acls
            .iter()
            .any(|a| a.pattern == PatternType::Prefixed && a.name == "app."),
        "{app_acls:?}"
    );
    assert!(app_acls.contains(&deny));

    // The fence bites: app can no longer write (ACL changes propagate quickly on one node).
    let err = wait_for("the DENY to apply", Duration::from_secs(15), || {
        app.produce(&topic, &[one("fenced")], Duration::from_secs(5))
            .err()
    });
    assert!(err.is_authorization_denied(), "{err:?}");
    assert!(err.to_string().contains(&topic), "{err}");

    // app may not touch ACLs, nor list them (librdkafka alone would show it an empty list).
    let err = app.create_acls(std::slice::from_ref(&deny), T).unwrap_err();
    assert!(err.is_authorization_denied(), "{err:?}");
    let err = app.describe_acls(&filter, T).unwrap_err();
    assert!(err.is_authorization_denied(), "{err:?}");
    // Reading is not writing: app still reads its topic under the fence.
    let read = app
        .read_records(&topic, 0, 0, 10, T)
        .expect("app reads under the fence");
    assert_eq!(read.len(), 1);
    assert_eq!(read[0].value.as_deref(), Some(&b"before"[..]));

    // Delete: returns what was deleted; deleting again deletes nothing.
    assert_eq!(
        admin.delete_acls(std::slice::from_ref(&deny), T).unwrap(),
        vec![deny.clone()]
    );
    assert!(admin
        .delete_acls(std::slice::from_ref(&deny), T)
        .unwrap()
        .is_empty());
    assert!(admin.describe_acls(&filter, T).unwrap().is_empty());
    wait_for("the fence to lift", Duration::from_secs(15), || {
        app.produce(&topic, &[one("after")], Duration::from_secs(5))
            .ok()
    });
    admin.delete_topic(&topic, T).expect("cleanup");
}

#[test]
fn mm2_offset_syncs_and_checkpoints_decode() {
    let _lab_guard = crate::common::shared();
    let dc1 = client("dc1", Who::Admin);
    let dc2 = client("dc2", Who::Admin);
    let app1 = client("dc1", Who::App);
    let topic = new_topic(&dc1, 1);
    let recs = sample_records(0, 150, now_ms());
    app1.produce(&topic, &recs, T).unwrap();

    // MM2 creates the topic on dc2 (identity policy) and copies the records.
    wait_for(
        "the topic on dc2 with 150 records",
        Duration::from_secs(90),
        || {
            dc2.watermarks(&[(topic.as_str(), 0)], T)
                .ok()
                .filter(|w| w[0].latest >= 150)
        },
    );

    // Offset syncs for our topic, on dc1.
    let syncs = wait_for(
        "offset syncs for the topic",
        Duration::from_secs(60),
        || {
            let all = dc1
                .read_offset_syncs("mm2-offset-syncs.dc2.internal", T)
                .expect("read offset syncs");
            let ours: Vec<_> = all.into_iter().filter(|s| s.topic == topic).collect();
            (!ours.is_empty()).then_some(ours)
        },
    );
    for s in &syncs {
        assert_eq!(s.partition, 0);
        assert!((0..150).contains(&s.upstream), "{s:?}");
        // Same record on both sides.
        let up = dc1
            .read_records(&topic, 0, s.upstream, s.upstream + 1, T)
            .unwrap();
        let down = dc2
            .read_records(&topic, 0, s.downstream, s.downstream + 1, T)
            .unwrap();
        assert_eq!(fingerprint(&up[0]), fingerprint(&down[0]), "sync {s:?}");
    }
    assert!(syncs
        .windows(2)
        .all(|w| w[0].offset_in_syncs_topic < w[1].offset_in_syncs_topic));

    // A group commits on dc1; MM2 checkpoints it on dc2.
    let group = unique("g");
    {
        let mut c = rd_config("dc1", Who::App);
        c.set("group.id", &group).set("enable.auto.commit", "false");
        let consumer: BaseConsumer = c.create().unwrap();
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(&topic, 0, Offset::Offset(120))
            .unwrap();
        consumer.commit(&tpl, CommitMode::Sync).expect("commit");
    }
    let cps = wait_for(
        "a checkpoint for the group",
        Duration::from_secs(90),
        || {
            let all = dc2
                .read_checkpoints("dc1.checkpoints.internal", T)
                .expect("read checkpoints");
            let ours: Vec<_> = all.into_iter().filter(|c| c.group == group).collect();
            (!ours.is_empty()).then_some(ours)
        },
    );
    let cp = cps.last().unwrap();
    assert_eq!(
        (cp.topic.as_str(), cp.partition, cp.upstream),
        (topic.as_str(), 0, 120)
    );
    assert!(cp.downstream <= 120 && cp.downstream >= 0, "{cp:?}");
    dc1.delete_topic(&topic, T).expect("cleanup dc1");
    let _ = dc2.delete_topic(&topic, T);
}
