//! Smoke tests of the lab itself (issue 2): MM2 replicates faithfully, its internal
//! topics sit where ARCHITECTURE.md section 3 says, an ACL fence on the mirror principal
//! bites, and a killed DC comes back with its data.

use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::{Offset, TopicPartitionList};

use crate::common::*;

/// Issue 2, 5a: 1,000 records produced as `app` to a new 3-partition topic on dc1 all
/// arrive on dc2 under the same name, partitions, keys, values, headers and timestamps.
#[test]
fn mm2_replicates_records_faithfully() {
    let lab = lab();
    let _g = shared();
    let topic = unique("smoke-a");
    create_topic(lab, "dc1", &topic, 3);
    let records = make_records(&topic, 1000, 3);
    produce(lab, "dc1", Principal::App, &topic, &records);

    let on_dc1 = read_all(lab, "dc1", &topic);
    assert_eq!(on_dc1.len(), 1000);
    let on_dc2 = wait_for("1,000 records on dc2", Duration::from_secs(60), || {
        if !topic_exists(lab, "dc2", &topic) {
            return None;
        }
        let recs = read_all(lab, "dc2", &topic);
        (recs.len() >= 1000).then_some(recs)
    });
    assert_eq!(
        on_dc2.len(),
        1000,
        "dc2 holds a different number of records"
    );
    for (a, b) in on_dc1.iter().zip(on_dc2.iter()) {
        assert!(a.same_content(b), "record differs:\n dc1 {a:?}\n dc2 {b:?}");
    }
    assert_eq!(partition_count(lab, "dc2", &topic), 3);
}

pub fn topic_exists(lab: &Lab, dc: &str, topic: &str) -> bool {
    let consumer: BaseConsumer = lab
        .client_config(dc, Principal::Admin)
        .create()
        .expect("client");
    consumer
        .fetch_metadata(None, Duration::from_secs(10))
        .map(|md| {
            md.topics()
                .iter()
                .any(|t| t.name() == topic && t.error().is_none())
        })
        .unwrap_or(false)
}

pub fn partition_count(lab: &Lab, dc: &str, topic: &str) -> usize {
    let consumer: BaseConsumer = lab
        .client_config(dc, Principal::Admin)
        .create()
        .expect("client");
    let md = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .expect("metadata");
    md.topics()[0].partitions().len()
}

/// Keys of MM2 checkpoint records: {group STRING, topic STRING, partition INT32}.
fn decode_checkpoint_key(key: &[u8]) -> Option<(String, String, i32)> {
    fn string(b: &[u8], at: &mut usize) -> Option<String> {
        let len = i16::from_be_bytes(b.get(*at..*at + 2)?.try_into().ok()?) as usize;
        *at += 2;
        let s = String::from_utf8(b.get(*at..*at + len)?.to_vec()).ok()?;
        *at += len;
        Some(s)
    }
    let mut at = 0;
    let group = string(key, &mut at)?;
    let topic = string(key, &mut at)?;
    let partition = i32::from_be_bytes(key.get(at..at + 4)?.try_into().ok()?);
    Some((group, topic, partition))
}

/// Issue 2, 5b: the offset-syncs topic is on the source (dc1), the checkpoints topic on
/// the target (dc2), and a group that consumed and committed on dc1 gets a checkpoint.
#[test]
fn mm2_internal_topics_and_checkpoints() {
    let lab = lab();
    let _g = shared();
    let topic = unique("smoke-b");
    let group = unique("smoke-b-group");
    create_topic(lab, "dc1", &topic, 2);
    produce(
        lab,
        "dc1",
        Principal::App,
        &topic,
        &make_records(&topic, 300, 2),
    );

    // Consume part of it as `app` in `group` on dc1 and commit.
    let consumer: BaseConsumer = lab
        .client_config("dc1", Principal::App)
        .set("group.id", &group)
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(&topic, 0, Offset::Offset(40))
        .unwrap();
    tpl.add_partition_offset(&topic, 1, Offset::Offset(77))
        .unwrap();
    consumer
        .commit(&tpl, CommitMode::Sync)
        .expect("commit on dc1");
    drop(consumer);

    assert!(
        topic_exists(lab, "dc1", "mm2-offset-syncs.dc2.internal"),
        "mm2-offset-syncs.dc2.internal must be on dc1 (offset-syncs.topic.location=source)"
    );
    assert!(!topic_exists(lab, "dc2", "mm2-offset-syncs.dc2.internal"));
    let found = wait_for(
        "a checkpoint for the group on dc2",
        Duration::from_secs(90),
        || {
            if !topic_exists(lab, "dc2", "dc1.checkpoints.internal") {
                return None;
            }
            let recs = read_all(lab, "dc2", "dc1.checkpoints.internal");
            recs.iter()
                .filter_map(|r| r.key.as_deref().and_then(decode_checkpoint_key))
                .find(|(g, t, _)| g == &group && t == &topic)
        },
    );
    assert_eq!(found.0, group);
}

/// Issue 2, 5d: `kill dc1` then `start dc1` keeps every record dc1 had, and MM2 resumes.
#[test]
fn killed_dc1_comes_back_with_its_data_and_mm2_resumes() {
    let lab = lab();
    let _g = exclusive();
    let topic = unique("smoke-d");
    create_topic(lab, "dc1", &topic, 2);
    let before = make_records(&format!("{topic}-before"), 200, 2);
    produce(lab, "dc1", Principal::App, &topic, &before);
    let had = read_all(lab, "dc1", &topic);
    assert_eq!(had.len(), 200);

    lab_cmd(&["kill", "dc1"]);
    lab_cmd(&["start", "dc1"]);

    let after_restart = read_all(lab, "dc1", &topic);
    assert_eq!(
        after_restart, had,
        "dc1 lost or changed records across kill/start"
    );

    let more = make_records(&format!("{topic}-after"), 100, 2);
    produce(lab, "dc1", Principal::App, &topic, &more);
    let on_dc2 = wait_for(
        "300 records on dc2 after dc1 returned",
        Duration::from_secs(120),
        || {
            if !topic_exists(lab, "dc2", &topic) {
                return None;
            }
            let recs = read_all(lab, "dc2", &topic);
            (recs.len() >= 300).then_some(recs)
        },
    );
    let dc1_all = read_all(lab, "dc1", &topic);
    assert_eq!(dc1_all.len(), 300);
    for r in &dc1_all {
        assert!(
            on_dc2.iter().any(|x| x.same_content(r)),
            "record missing on dc2 after MM2 resumed: {r:?}"
        );
    }
}

/// Restart whatever MM2 source task failed (a DENY on the mirror principal fails it).
fn restart_failed_mm2(lab: &Lab) {
    let c = connect_client(lab, "dc2");
    block_on(c.restart("mm2-dc1-dc2-source", true, true)).expect("restart mm2 source");
}

/// Issue 2, 5c: a DENY WRITE ACL on `User:mirror` for a topic on dc2 stops replication
/// of that topic; once the ACL is deleted (and MM2's failed task restarted), the records
/// produced meanwhile arrive.
#[test]
fn deny_acl_on_mirror_stops_replication_until_lifted() {
    use kafka_dr::kafka::{AclBinding, AclOperation, AclPermission, ResourceType};
    let lab = lab();
    // The failed MM2 task stops replication for every topic: keep other tests out.
    let _g = exclusive();
    let topic = unique("smoke-c");
    create_topic(lab, "dc1", &topic, 2);
    produce(
        lab,
        "dc1",
        Principal::App,
        &topic,
        &make_records(&format!("{topic}-a"), 50, 2),
    );
    wait_for(
        "the first 50 records on dc2",
        Duration::from_secs(60),
        || {
            (topic_exists(lab, "dc2", &topic) && read_all(lab, "dc2", &topic).len() >= 50)
                .then_some(())
        },
    );

    let admin = kdr_client(lab, "dc2");
    let deny = AclBinding::literal(
        AclPermission::Deny,
        AclOperation::Write,
        ResourceType::Topic,
        topic.clone(),
        "User:mirror",
    );
    admin
        .create_acls(std::slice::from_ref(&deny), Duration::from_secs(10))
        .expect("create deny");
    // Lift the fence and heal MM2 whatever happens below.
    struct Lift<'a>(&'a kafka_dr::kafka::KafkaClient, AclBinding, &'a Lab);
    impl Drop for Lift<'_> {
        fn drop(&mut self) {
            let _ = self
                .0
                .delete_acls(std::slice::from_ref(&self.1), Duration::from_secs(10));
            restart_failed_mm2(self.2);
        }
    }
    let lift = Lift(&admin, deny.clone(), lab);

    produce(
        lab,
        "dc1",
        Principal::App,
        &topic,
        &make_records(&format!("{topic}-b"), 30, 2),
    );
    std::thread::sleep(Duration::from_secs(15));
    assert_eq!(
        read_all(lab, "dc2", &topic).len(),
        50,
        "records produced to dc1 under the DENY reached dc2"
    );

    drop(lift);
    let on_dc2 = wait_for(
        "all 80 records on dc2 after the ACL was deleted",
        Duration::from_secs(90),
        || {
            let recs = read_all(lab, "dc2", &topic);
            (recs.len() >= 80).then_some(recs)
        },
    );
    let on_dc1 = read_all(lab, "dc1", &topic);
    for r in &on_dc1 {
        assert!(
            on_dc2.iter().any(|x| x.same_content(r)),
            "missing on dc2: {r:?}"
        );
    }
}
