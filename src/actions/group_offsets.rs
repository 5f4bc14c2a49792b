//! The groups' committed offsets for `deltas record`, asked of a cluster only where they
//! may have changed. A pass at 1,000 groups sends 1,000 OffsetFetch requests, and
//! librdkafka matches each partition of an answer to its list by a linear search, so a
//! group of 300 partitions costs 45,000 string compares: half a `--follow` recorder's CPU
//! when nothing moved. Every change to a group's offsets is a record appended to its
//! partition of `__consumer_offsets` (`dr::coordinator`), so a recorder that remembers
//! those partitions' log ends, read before it asks, asks again only the groups of the
//! partitions that moved, and the groups it never asked; the others' offsets are those it
//! read last time. A principal that may not describe `__consumer_offsets` asks every group
//! every pass, as without the cache.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::common;
use crate::dr::coordinator;
use crate::kafka::{KafkaClient, KafkaError};

/// Where Kafka keeps the groups' offsets.
pub const OFFSETS_TOPIC: &str = "__consumer_offsets";

/// One group's committed offsets: (topic, partition, offset), sorted, each topic's name
/// shared by its partitions.
pub type Committed = Arc<Vec<(Arc<str>, i32, i64)>>;

/// What `--follow` keeps from pass to pass (see the module doc).
#[derive(Debug, Default)]
pub struct GroupOffsetsCache {
    held: Mutex<Option<Held>>,
}

#[derive(Debug)]
struct Held {
    cluster: String,
    /// `__consumer_offsets`' partition count (read once per cluster) and their log ends
    /// read before the last ask.
    partitions: i32,
    ends: Vec<i64>,
    by_group: HashMap<String, Committed>,
}

/// The committed offsets of each of `groups` on `cluster`, in order, and how many groups
/// were asked (the others came from `cache`). Without a cache every group is asked.
pub fn committed_offsets(
    client: &KafkaClient,
    cluster: &str,
    groups: &[String],
    cache: Option<&GroupOffsetsCache>,
    timeout: Duration,
) -> Result<(Vec<Committed>, usize), KafkaError> {
    let Some(cache) = cache else {
        let asked: Vec<&str> = groups.iter().map(String::as_str).collect();
        let fetched = ask(client, &asked, timeout)?;
        let n = fetched.len();
        return Ok((fetched, n));
    };
    let held = cache
        .held
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take()
        .filter(|h| h.cluster == cluster);
    // The log ends first: a commit after this read moves them for the next pass.
    let partitions = match &held {
        Some(h) => Some(h.partitions),
        None => client
            .topic_partitions(OFFSETS_TOPIC, timeout)
            .ok()
            .and_then(|p| i32::try_from(p.len()).ok())
            .filter(|n| *n > 0),
    };
    let ends = partitions.and_then(|n| client.log_ends(OFFSETS_TOPIC, n, timeout).ok());
    let known = |g: &str| held.as_ref().is_some_and(|h| h.by_group.contains_key(g));
    let to_ask = match &ends {
        Some(now) => {
            coordinator::groups_to_ask(groups, known, held.as_ref().map(|h| h.ends.as_slice()), now)
        }
        None => groups.iter().map(String::as_str).collect(),
    };
    let fetched = ask(client, &to_ask, timeout)?;
    let asked = fetched.len();
    let mut fresh: HashMap<&str, Committed> = to_ask.into_iter().zip(fetched).collect();
    let mut by_group = HashMap::with_capacity(groups.len());
    let mut out = Vec::with_capacity(groups.len());
    for g in groups {
        let committed = match fresh.remove(g.as_str()) {
            Some(c) => c,
            // Not asked: its partition's log end did not move since it was read.
            None => held
                .as_ref()
                .and_then(|h| h.by_group.get(g))
                .cloned()
                .unwrap_or_default(),
        };
        by_group.insert(g.clone(), committed.clone());
        out.push(committed);
    }
    if let (Some(partitions), Some(ends)) = (partitions, ends) {
        *cache.held.lock().unwrap_or_else(|p| p.into_inner()) = Some(Held {
            cluster: cluster.to_string(),
            partitions,
            ends,
            by_group,
        });
    }
    Ok((out, asked))
}

/// One OffsetFetch per group, `common::IN_FLIGHT` at a time.
fn ask(
    client: &KafkaClient,
    groups: &[&str],
    timeout: Duration,
) -> Result<Vec<Committed>, KafkaError> {
    common::in_parallel(groups, |g| client.committed_offsets(g, timeout))
        .into_iter()
        .map(|r| r.map(|c| Arc::new(share_topics(c))))
        .collect()
}

/// `(topic, partition, offset, metadata)` sorted by topic, as one group's offsets, with
/// each topic's name allocated once.
fn share_topics(committed: Vec<(String, i32, i64, String)>) -> Vec<(Arc<str>, i32, i64)> {
    let mut out: Vec<(Arc<str>, i32, i64)> = Vec::with_capacity(committed.len());
    for (topic, partition, offset, _) in committed {
        let name = match out.last() {
            Some((last, ..)) if **last == *topic => last.clone(),
            _ => Arc::from(topic),
        };
        out.push((name, partition, offset));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_topic_name_is_shared_by_its_partitions() {
        let shared = share_topics(vec![
            ("a".into(), 0, 5, String::new()),
            ("a".into(), 1, 6, String::new()),
            ("b".into(), 0, 7, "md".into()),
        ]);
        assert_eq!(
            shared
                .iter()
                .map(|(t, p, o)| (t.as_ref(), *p, *o))
                .collect::<Vec<_>>(),
            vec![("a", 0, 5), ("a", 1, 6), ("b", 0, 7)]
        );
        assert!(Arc::ptr_eq(&shared[0].0, &shared[1].0));
    }
}
