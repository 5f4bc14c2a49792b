//! Issue 8, deliverable 6: every record codec a producer may use, end to end.
//!
//! One partition per codec (zstd, lz4, snappy, gzip) on dc1, written in multi-record
//! batches; MM2 mirrors them; a group consumes part of each; the deltas are recorded
//! (which reads the last consumed record of every partition on dc1); 50 records per
//! partition reach dc1 only; dc1 dies. `failover promote` must land the group exactly on
//! every partition, and after dc1 returns `failback reverse` must quarantine all 200
//! tail records, whatever codec holds them. Before librdkafka was built with zstd, the
//! zstd partition could not be read at all ("timed out ... no answer to reading").
//! Disturbs the lab (stops the forward flow, kills dc1): takes `exclusive()`.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use kafka_dr::actions::quarantine_file::Manifest;

use crate::common::*;
use crate::groups::commit;
use crate::reverse::{sandbox_with_reverse_names, DeleteConnectors};
use crate::tail::{check_manifest, quarantined};

const CODECS: [&str; 4] = ["zstd", "lz4", "snappy", "gzip"];
/// Records per partition before the failure, and G's committed position in each.
const PER_PARTITION: usize = 400;
const POSITIONS: [i64; 4] = [123, 250, 377, 399];
const TAIL_PER_PARTITION: usize = 50;

/// Records for partition `p` only (make_records spreads over partitions: keep one).
fn records_for(seed: &str, p: i32, n: usize) -> Vec<Rec> {
    make_records(&format!("{seed}-p{p}"), n, 1)
        .into_iter()
        .map(|mut r| {
            r.partition = p;
            r
        })
        .collect()
}

fn produce_codecs(lab: &Lab, topic: &str, seed: &str, n: usize) {
    for (p, codec) in CODECS.iter().enumerate() {
        try_produce_with(
            lab,
            "dc1",
            Principal::App,
            topic,
            &records_for(seed, p as i32, n),
            &[("compression.codec", codec), ("batch.num.messages", "100")],
        )
        .unwrap_or_else(|e| panic!("produce {codec} records to {topic}[{p}]: {e}"));
    }
}

struct LiftFences<'a>(&'a Sandbox);

impl Drop for LiftFences<'_> {
    fn drop(&mut self) {
        let _ = std::process::Command::new(kafka_lab())
            .args(["start", "dc1"])
            .status();
        for (fence, dc) in [
            ("replication-into-backup", "dc2"),
            ("app-writes", "dc2"),
            ("app-writes", "dc1"),
        ] {
            let _ = self
                .0
                .run(&["--yes", "fence", "lift", fence, "--cluster", dc]);
        }
    }
}

#[test]
fn every_codec_fails_over_exactly_and_its_tail_is_quarantined() {
    let _g = exclusive();
    let (sb, names) = sandbox_with_reverse_names("codec");
    let lab = sb.lab;
    let _delete = DeleteConnectors {
        client: connect_client(lab, "dc1"),
        names: names.to_vec(),
    };
    let _lift = LiftFences(&sb);
    let topic = sb.name("codecs");
    let group = sb.name("reader");
    create_topic(lab, "dc1", &topic, CODECS.len() as i32);
    produce_codecs(lab, &topic, &topic, PER_PARTITION);
    let total = PER_PARTITION * CODECS.len();
    wait_for("the codec records on dc2", Duration::from_secs(120), || {
        (crate::smoke::topic_exists(lab, "dc2", &topic)
            && read_all(lab, "dc2", &topic).len() >= total)
            .then_some(())
    });

    commit(lab, "dc1", Principal::App, &group, &topic, &POSITIONS);
    std::thread::sleep(Duration::from_secs(8));

    sb.ok(&["--yes", "fence", "apply", "app-writes", "--cluster", "dc2"]);
    let rec = sb.ok(&["--output", "json", "deltas", "record"]);
    assert!(
        !rec.stderr.contains("without the fingerprint"),
        "a codec partition's last consumed record could not be read:\n{rec}"
    );

    block_on(connect_client(lab, "dc2").stop(FORWARD_CONNECTORS[0]))
        .expect("stop source connector");
    std::thread::sleep(Duration::from_secs(3));
    produce_codecs(lab, &topic, &format!("{topic}-tail"), TAIL_PER_PARTITION);
    let dc1 = read_all(lab, "dc1", &topic);
    assert_eq!(dc1.len(), total + TAIL_PER_PARTITION * CODECS.len());
    lab_cmd(&["kill", "dc1"]);

    let out = sb.run(&["--yes", "failover", "promote"]);
    assert_eq!(out.code, Some(0), "{out}");

    // G lands right after the twin of its last consumed record, on every codec.
    let dc2 = read_all(lab, "dc2", &topic);
    let committed: BTreeMap<i32, i64> = kdr_client(lab, "dc2")
        .committed_offsets(&group, Duration::from_secs(10))
        .expect("committed offsets on dc2")
        .into_iter()
        .filter(|(t, _, _, _)| t == &topic)
        .map(|(_, p, o, _)| (p, o))
        .collect();
    for (p, pos) in POSITIONS.iter().enumerate() {
        let p = p as i32;
        let last = dc1
            .iter()
            .find(|r| r.partition == p && r.offset == pos - 1)
            .expect("G's last consumed record on dc1");
        let twin = dc2
            .iter()
            .find(|r| r.same_content(last))
            .expect("its twin on dc2");
        assert_eq!(
            committed.get(&p),
            Some(&(twin.offset + 1)),
            "{} partition {p}: G must resume right after its last consumed record",
            CODECS[p as usize]
        );
    }
    let cut: BTreeMap<i32, i64> = crate::tail::marks(lab, "dc2", &topic, CODECS.len() as i32)
        .into_iter()
        .map(|(p, (_, end))| (p, end))
        .collect();

    lab_cmd(&["start", "dc1"]);
    let out = sb.run(&["--yes", "failback", "reverse"]);
    assert_eq!(out.code, Some(0), "{out}");
    let shown = sb.ok(&["--output", "json", "tail", "show"]).json();
    let manifest: Manifest = serde_json::from_value(shown["manifest"].clone()).expect("manifest");
    check_manifest(&manifest);
    let q = quarantined(shown["path"].as_str().expect("path"));
    let tail: Vec<&Rec> = dc1
        .iter()
        .filter(|r| r.offset >= cut[&r.partition])
        .collect();
    assert_eq!(
        tail.len(),
        TAIL_PER_PARTITION * CODECS.len(),
        "the tail on dc1"
    );
    assert_eq!(q.len(), tail.len(), "records in the quarantine");
    let unique: BTreeSet<(i32, i64)> = q.iter().map(|r| (r.partition, r.offset)).collect();
    assert_eq!(unique.len(), q.len(), "a record was quarantined twice");
    for t in &tail {
        assert!(
            q.iter()
                .any(|r| r.partition == t.partition && r.offset == t.offset && r.same_content(t)),
            "{} partition {}: tail record at offset {} is not in the quarantine",
            CODECS[t.partition as usize],
            t.partition,
            t.offset
        );
    }
    println!(
        "CODEC FIGURES: {} codecs, {} records each before the failure, G exact on every partition, {} tail records quarantined",
        CODECS.len(),
        PER_PARTITION,
        q.len()
    );
}
