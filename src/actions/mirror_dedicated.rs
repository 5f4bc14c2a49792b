//! MM2 dedicated mode (`replication.mirror_maker.mode: dedicated`), shared by
//! `mirror.stop`, `mirror.seed` and `mirror.start`: there is no Connect REST API, so a
//! flow is stopped and started by the topology's hooks (whatever runs MM2: systemd,
//! Kubernetes), and its source positions are read from and written to its Connect offsets
//! topic on the flow's target (`mm2-offsets.<source alias>.internal`), in the format
//! `kafka::connect_offsets` documents.
//!
//! MM2 reads its offsets topic when a task starts, and its own commits would overwrite a
//! seed written while it runs: the seed stops the flow (its stop hook) before writing.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::json;

use super::exec::Exec;
use super::mirror::Flow;
use crate::engine::{Action, Plan, StepContext, Verdict};
use crate::error::Error;
use crate::kafka::connect_offsets::{
    SourceOffsetEntry, DEDICATED_SOURCE_CONNECTOR, DEFAULT_OFFSETS_PARTITIONS,
};
use crate::kafka::{KafkaClient, ProduceRecord};
use crate::topology::{DedicatedFlow, Hook, MirrorMaker, Topology};

/// Stored positions of one source alias: (topic, partition) -> last copied.
pub(super) type Positions = BTreeMap<(String, i32), Option<i64>>;

/// The dedicated-mode settings of `flow`, or `None` when MM2 runs on Connect.
pub(super) fn flow_of(topology: &Topology, flow: Flow) -> Option<&DedicatedFlow> {
    match &topology.replication.mirror_maker {
        MirrorMaker::Connect => None,
        MirrorMaker::Dedicated(f) => Some(match flow {
            Flow::Forward => &f.forward,
            Flow::Reverse => &f.reverse,
        }),
    }
}

/// The topology flow that copies into `cluster` (named by the topology's seed roles).
pub(super) fn flow_into(topology: &Topology, cluster: &str) -> Flow {
    if cluster == topology.replication.backup {
        Flow::Forward
    } else {
        Flow::Reverse
    }
}

/// `stop hook `./kafka-lab mm2 stop forward` (killed after 60s)`.
pub(super) fn describe(which: &str, hook: &Hook) -> String {
    let exec = Exec::from_hook(hook);
    let verify = hook
        .verify_argv
        .as_ref()
        .map(|v| {
            format!(
                ", verified by `{}`",
                Exec::from_hook(&with_argv(hook, v)).command()
            )
        })
        .unwrap_or_default();
    format!(
        "{which} hook `{}` (killed after {}s{verify})",
        exec.command(),
        hook.timeout_seconds
    )
}

fn with_argv(hook: &Hook, argv: &[String]) -> Hook {
    Hook {
        argv: argv.to_vec(),
        ..hook.clone()
    }
}

/// Run a hook to completion and check it (its `verify_argv`, if any). The output is
/// what the exec step would journal (the hook's captured output, exit code, duration).
pub(super) fn run_hook(ctx: &mut StepContext<'_>, hook: &Hook) -> Result<serde_json::Value, Error> {
    let mut exec = Exec::from_hook(hook);
    let plan = Plan::default();
    let out = exec.apply(ctx, &plan)?;
    match exec.verify(ctx, &plan)? {
        Verdict::Done => Ok(out),
        Verdict::NotDone(why) => Err(Error::Action(super::ActionError::HookFailed {
            command: exec.command(),
            status: "ran, but its verification failed".into(),
            stderr_tail: why,
        })),
    }
}

/// The MirrorSourceConnector positions for `alias` in the offsets topic `topic`, newest
/// per key; `None` when the topic does not exist (MM2 never ran that flow).
pub(super) fn read_positions(
    client: &KafkaClient,
    topic: &str,
    alias: &str,
    timeout: Duration,
) -> Result<Option<Positions>, Error> {
    if client.metadata(timeout)?.topic(topic).is_none() {
        return Ok(None);
    }
    let mut out = Positions::new();
    // One key lives in one partition, read in log order: the last record of a key wins,
    // as in Connect's KafkaOffsetBackingStore.
    for r in client.read_topic(topic, timeout)? {
        let Some(key) = r.key.as_deref() else {
            continue;
        };
        let Some(e) = SourceOffsetEntry::decode(key, r.value.as_deref()) else {
            continue;
        };
        if e.connector != DEDICATED_SOURCE_CONNECTOR || e.cluster != alias {
            continue;
        }
        if e.last_copied.is_none() {
            out.remove(&(e.topic, e.partition));
        } else {
            out.insert((e.topic, e.partition), e.last_copied);
        }
    }
    Ok(Some(out))
}

/// Write positions into the offsets topic, creating it as Connect would (compacted,
/// `offset.storage.partitions` 25, replication factor min(3, brokers)) if MM2 never ran
/// the flow. Each record goes to the partition Connect's producer would pick.
pub(super) fn write_positions(
    client: &KafkaClient,
    topic: &str,
    entries: &[SourceOffsetEntry],
    timeout: Duration,
) -> Result<bool, Error> {
    let created = if client.metadata(timeout)?.topic(topic).is_none() {
        let brokers = client.describe_cluster(timeout)?.brokers.len();
        let rf = brokers.clamp(1, 3) as i32;
        client.create_topic(
            topic,
            DEFAULT_OFFSETS_PARTITIONS,
            rf,
            &[("cleanup.policy", "compact")],
            timeout,
        )?
    } else {
        false
    };
    let partitions = i32::try_from(client.topic_partitions(topic, timeout)?.len()).unwrap_or(0);
    let records: Vec<ProduceRecord> = entries
        .iter()
        .map(|e| ProduceRecord {
            partition: Some(e.partition_in(partitions)),
            key: Some(e.key()),
            value: e.value(),
            headers: Vec::new(),
            timestamp_ms: None,
        })
        .collect();
    client.produce(topic, &records, timeout)?;
    Ok(created)
}

/// The entry that stores `last_copied` for (topic, partition) of source `alias`.
pub(super) fn entry(
    alias: &str,
    topic: &str,
    partition: i32,
    last_copied: Option<i64>,
) -> SourceOffsetEntry {
    SourceOffsetEntry {
        connector: DEDICATED_SOURCE_CONNECTOR.to_string(),
        cluster: alias.to_string(),
        topic: topic.to_string(),
        partition,
        last_copied,
    }
}

/// A plan that runs one hook (for `mirror.stop` and `mirror.start` in dedicated mode).
pub(super) fn hook_plan(flow: Flow, which: &str, hook: &Hook, source: &str, target: &str) -> Plan {
    Plan {
        changes: vec![format!(
            "{which} the {flow} flow's MM2 ({source} -> {target}, dedicated mode): run its {}",
            describe(which, hook)
        )],
        notes: Vec::new(),
        detail: json!({
            "flow": flow,
            "mode": "dedicated",
            "hook": which,
            "argv": hook.argv,
            "timeout_seconds": hook.timeout_seconds,
            "verify_argv": hook.verify_argv,
        }),
    }
}
