//! What the Connect REST API returns and accepts: connector and task status, target
//! states, source offsets, and the typed MirrorSourceConnector offset helpers.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::error::ConnectError;

/// The state a connector or task reports in `GET /connectors/{c}/status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectorState {
    Unassigned,
    Running,
    Paused,
    Stopped,
    Failed,
    Restarting,
    /// A state this version of kafka-dr does not know (newer Connect), kept verbatim.
    Other(String),
}

impl ConnectorState {
    pub fn parse(s: &str) -> ConnectorState {
        match s {
            "UNASSIGNED" => ConnectorState::Unassigned,
            "RUNNING" => ConnectorState::Running,
            "PAUSED" => ConnectorState::Paused,
            "STOPPED" => ConnectorState::Stopped,
            "FAILED" => ConnectorState::Failed,
            "RESTARTING" => ConnectorState::Restarting,
            other => ConnectorState::Other(other.to_string()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            ConnectorState::Unassigned => "UNASSIGNED",
            ConnectorState::Running => "RUNNING",
            ConnectorState::Paused => "PAUSED",
            ConnectorState::Stopped => "STOPPED",
            ConnectorState::Failed => "FAILED",
            ConnectorState::Restarting => "RESTARTING",
            ConnectorState::Other(s) => s,
        }
    }
}

impl fmt::Display for ConnectorState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for ConnectorState {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ConnectorState {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(ConnectorState::parse(&s))
    }
}

/// A state kafka-dr asks for: when creating a connector (`initial_state`) or waiting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum TargetState {
    Running,
    Paused,
    Stopped,
}

/// `initial_state` of `POST /connectors` takes exactly the target states.
pub type InitialState = TargetState;

impl TargetState {
    pub fn as_str(self) -> &'static str {
        match self {
            TargetState::Running => "RUNNING",
            TargetState::Paused => "PAUSED",
            TargetState::Stopped => "STOPPED",
        }
    }
}

impl fmt::Display for TargetState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One task of a connector, as `GET /connectors/{c}/status` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskStatus {
    pub id: u32,
    pub state: ConnectorState,
    pub worker_id: String,
    /// The Java stack trace of a FAILED task.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<String>,
}

/// `GET /connectors/{c}/status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectorStatus {
    pub name: String,
    pub connector_state: ConnectorState,
    pub worker_id: String,
    /// The Java stack trace of a FAILED connector instance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connector_trace: Option<String>,
    pub tasks: Vec<TaskStatus>,
    /// `source` or `sink`, when the worker says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}

impl ConnectorStatus {
    /// Parse the JSON body of `GET /connectors/{c}/status` (also the 202 body of restart).
    pub fn from_json(body: &[u8]) -> Result<ConnectorStatus, serde_json::Error> {
        #[derive(Deserialize)]
        struct WireState {
            state: ConnectorState,
            #[serde(default)]
            worker_id: String,
            #[serde(default)]
            trace: Option<String>,
        }
        #[derive(Deserialize)]
        struct WireTask {
            id: u32,
            state: ConnectorState,
            #[serde(default)]
            worker_id: String,
            #[serde(default)]
            trace: Option<String>,
        }
        #[derive(Deserialize)]
        struct Wire {
            name: String,
            connector: WireState,
            #[serde(default)]
            tasks: Vec<WireTask>,
            #[serde(default, rename = "type")]
            kind: Option<String>,
        }
        let w: Wire = serde_json::from_slice(body)?;
        let mut tasks: Vec<TaskStatus> = w
            .tasks
            .into_iter()
            .map(|t| TaskStatus {
                id: t.id,
                state: t.state,
                worker_id: t.worker_id,
                trace: t.trace,
            })
            .collect();
        tasks.sort_by_key(|t| t.id);
        Ok(ConnectorStatus {
            name: w.name,
            connector_state: w.connector.state,
            worker_id: w.connector.worker_id,
            connector_trace: w.connector.trace,
            tasks,
            kind: w.kind,
        })
    }

    /// True when the connector is in `wanted`: for RUNNING and PAUSED every task must be
    /// in it too; for STOPPED the connector must have no tasks left (that is also what
    /// the worker requires before it accepts an offsets PATCH or DELETE).
    pub fn is_in(&self, wanted: TargetState) -> bool {
        let want = match wanted {
            TargetState::Running => ConnectorState::Running,
            TargetState::Paused => ConnectorState::Paused,
            TargetState::Stopped => ConnectorState::Stopped,
        };
        if self.connector_state != want {
            return false;
        }
        match wanted {
            TargetState::Stopped => self.tasks.is_empty(),
            _ => self.tasks.iter().all(|t| t.state == want),
        }
    }

    /// The connector and every FAILED task, with the first line of their traces.
    pub fn failures(&self) -> Vec<String> {
        let first_line = |t: &Option<String>| {
            t.as_deref()
                .and_then(|s| s.lines().next())
                .map(|l| format!(": {l}"))
                .unwrap_or_default()
        };
        let mut out = Vec::new();
        if self.connector_state == ConnectorState::Failed {
            out.push(format!(
                "connector FAILED on worker {}{}",
                self.worker_id,
                first_line(&self.connector_trace)
            ));
        }
        for t in &self.tasks {
            if t.state == ConnectorState::Failed {
                out.push(format!(
                    "task {} FAILED on worker {}{}",
                    t.id,
                    t.worker_id,
                    first_line(&t.trace)
                ));
            }
        }
        out
    }

    /// `RUNNING, tasks: 0 RUNNING, 1 FAILED` for progress lines and errors.
    pub fn summary(&self) -> String {
        if self.tasks.is_empty() {
            return format!("{} (no tasks)", self.connector_state);
        }
        let tasks: Vec<String> = self
            .tasks
            .iter()
            .map(|t| format!("{} {}", t.id, t.state))
            .collect();
        format!("{}, tasks: {}", self.connector_state, tasks.join(", "))
    }
}

/// One entry of `GET|PATCH /connectors/{c}/offsets`. `offset: None` is a tombstone in a
/// PATCH (the partition's offset is erased) and may appear in a GET for such a partition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConnectorOffset {
    pub partition: Map<String, Value>,
    pub offset: Option<Map<String, Value>>,
}

/// The body of `GET /connectors/{c}/offsets` and `PATCH /connectors/{c}/offsets`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct ConnectorOffsets {
    pub offsets: Vec<ConnectorOffset>,
}

/// What `PUT /connectors/{c}/config` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConfigOutcome {
    /// The connector did not exist and was created (running).
    Created,
    /// Its config differed and was replaced (Connect restarts it).
    Updated,
    /// Its config was already exactly this: nothing was sent.
    Unchanged,
}

/// `GET /`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectInfo {
    pub version: super::version::ConnectVersion,
    pub commit: String,
    /// The Kafka cluster the worker group stores its topics in.
    pub kafka_cluster_id: Option<String>,
}

/// A connector config without the `name` key Connect adds, for comparisons.
pub(crate) fn comparable_config(config: &BTreeMap<String, String>) -> BTreeMap<&str, &str> {
    config
        .iter()
        .filter(|(k, _)| k.as_str() != "name")
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect()
}

// ---------------------------------------------------------------------------------------
// MirrorSourceConnector offsets
// ---------------------------------------------------------------------------------------

/// Keys of a MirrorSourceConnector source partition and offset (apache/kafka
/// `MirrorUtils`: SOURCE_CLUSTER_KEY, TOPIC_KEY, PARTITION_KEY, OFFSET_KEY).
pub const MIRROR_CLUSTER_KEY: &str = "cluster";
pub const MIRROR_TOPIC_KEY: &str = "topic";
pub const MIRROR_PARTITION_KEY: &str = "partition";
pub const MIRROR_OFFSET_KEY: &str = "offset";

/// The position of a MirrorSourceConnector on one upstream partition.
///
/// The offset MM2 stores is the LAST COPIED upstream offset: on start a task seeks to
/// `stored + 1`, and a missing or negative stored offset means "no position": the task
/// does not seek, and its consumer starts at `auto.offset.reset` (MM2 defaults it to
/// `earliest`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MirrorSourceOffset {
    /// The source cluster alias (`source.cluster.alias` of the connector).
    pub source_alias: String,
    /// The topic's name on the source cluster.
    pub topic: String,
    pub partition: i32,
    /// The last upstream offset copied; `None` when there is no position.
    pub last_copied: Option<i64>,
}

impl MirrorSourceOffset {
    /// The next upstream offset the task will copy, or `None` when it has no position
    /// and will start at its consumer's `auto.offset.reset` (earliest by default).
    pub fn next_offset_to_copy(&self) -> Option<i64> {
        self.last_copied.map(|n| n + 1)
    }

    /// The REST form: `{"cluster","topic","partition"}` -> `{"offset": last_copied}`, or a
    /// tombstone (`offset: null`) when there is no position.
    pub fn to_connector_offset(&self) -> ConnectorOffset {
        let mut partition = Map::new();
        partition.insert(
            MIRROR_CLUSTER_KEY.to_string(),
            Value::String(self.source_alias.clone()),
        );
        partition.insert(
            MIRROR_TOPIC_KEY.to_string(),
            Value::String(self.topic.clone()),
        );
        partition.insert(
            MIRROR_PARTITION_KEY.to_string(),
            Value::from(self.partition),
        );
        let offset = self.last_copied.map(|n| {
            let mut o = Map::new();
            o.insert(MIRROR_OFFSET_KEY.to_string(), Value::from(n));
            o
        });
        ConnectorOffset { partition, offset }
    }

    /// Read a MirrorSourceConnector entry back. A null, missing or negative `offset` gives
    /// `last_copied: None` (MirrorSourceTask treats all three as "no position").
    pub fn from_connector_offset(entry: &ConnectorOffset) -> Result<Self, ConnectError> {
        let bad = |what: String| ConnectError::InvalidMirrorOffset {
            detail: format!(
                "{what} in {}",
                serde_json::to_string(entry).unwrap_or_default()
            ),
        };
        let string_key = |key: &str| -> Result<String, ConnectError> {
            match entry.partition.get(key) {
                Some(Value::String(s)) => Ok(s.clone()),
                Some(_) => Err(bad(format!("partition key `{key}` is not a string"))),
                None => Err(bad(format!("partition key `{key}` is missing"))),
            }
        };
        let source_alias = string_key(MIRROR_CLUSTER_KEY)?;
        let topic = string_key(MIRROR_TOPIC_KEY)?;
        let partition = match entry.partition.get(MIRROR_PARTITION_KEY) {
            Some(v) => v
                .as_i64()
                .and_then(|p| i32::try_from(p).ok())
                .filter(|p| *p >= 0)
                .ok_or_else(|| bad(format!("partition number {v} is not a partition")))?,
            None => return Err(bad("partition key `partition` is missing".into())),
        };
        let last_copied = match &entry.offset {
            None => None,
            Some(o) => match o.get(MIRROR_OFFSET_KEY) {
                None | Some(Value::Null) => None,
                Some(v) => {
                    let n = v
                        .as_i64()
                        .ok_or_else(|| bad(format!("offset {v} is not an integer")))?;
                    (n >= 0).then_some(n)
                }
            },
        };
        Ok(MirrorSourceOffset {
            source_alias,
            topic,
            partition,
            last_copied,
        })
    }
}

/// The offsets entry that makes a MirrorSourceConnector copy `topic`/`partition` of
/// `source_alias` starting AT `next_offset_to_copy` (stored value: `next_offset_to_copy - 1`).
///
/// Connect refuses negative MM2 offsets (`MirrorUtils.validateSourceOffset`), so for
/// `next_offset_to_copy == 0` the entry is a tombstone: the task then has no position and
/// starts at its consumer's `auto.offset.reset`, which MM2 defaults to `earliest` (offset
/// 0, or the log start if records were deleted). A connector configured with
/// `source.consumer.auto.offset.reset=latest` would skip instead: check the config.
pub fn mirror_source_offset(
    source_alias: &str,
    topic: &str,
    partition: i32,
    next_offset_to_copy: i64,
) -> Result<ConnectorOffset, ConnectError> {
    if next_offset_to_copy < 0 || partition < 0 {
        return Err(ConnectError::InvalidMirrorOffset {
            detail: format!(
                "cannot start `{topic}` partition {partition} of `{source_alias}` at offset \
                 {next_offset_to_copy}: offsets and partitions are never negative"
            ),
        });
    }
    Ok(MirrorSourceOffset {
        source_alias: source_alias.to_string(),
        topic: topic.to_string(),
        partition,
        last_copied: (next_offset_to_copy > 0).then(|| next_offset_to_copy - 1),
    }
    .to_connector_offset())
}

/// Reverse of [`mirror_source_offset`]: see [`MirrorSourceOffset::from_connector_offset`].
pub fn parse_mirror_source_offset(
    entry: &ConnectorOffset,
) -> Result<MirrorSourceOffset, ConnectError> {
    MirrorSourceOffset::from_connector_offset(entry)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn status_running_with_failed_task() {
        let body = json!({
            "name": "mm2-dc1-dc2-source",
            "connector": {"state": "RUNNING", "worker_id": "127.0.0.1:8083"},
            "tasks": [
                {"id": 1, "state": "FAILED", "worker_id": "127.0.0.1:8083",
                 "trace": "org.apache.kafka.common.errors.TopicAuthorizationException: Not authorized\n\tat x"},
                {"id": 0, "state": "RUNNING", "worker_id": "127.0.0.1:8083"}
            ],
            "type": "source"
        });
        let s = ConnectorStatus::from_json(body.to_string().as_bytes()).unwrap();
        assert_eq!(s.name, "mm2-dc1-dc2-source");
        assert_eq!(s.connector_state, ConnectorState::Running);
        assert_eq!(s.worker_id, "127.0.0.1:8083");
        assert_eq!(s.kind.as_deref(), Some("source"));
        assert_eq!(s.tasks.len(), 2);
        assert_eq!(s.tasks[0].id, 0, "tasks are sorted by id");
        assert_eq!(s.tasks[1].state, ConnectorState::Failed);
        assert!(s.tasks[1]
            .trace
            .as_deref()
            .unwrap()
            .contains("TopicAuthorization"));
        assert!(!s.is_in(TargetState::Running));
        assert_eq!(
            s.failures(),
            vec!["task 1 FAILED on worker 127.0.0.1:8083: org.apache.kafka.common.errors.TopicAuthorizationException: Not authorized"]
        );
        assert_eq!(s.summary(), "RUNNING, tasks: 0 RUNNING, 1 FAILED");
    }

    #[test]
    fn status_states() {
        let stopped = ConnectorStatus::from_json(
            br#"{"name":"c","connector":{"state":"STOPPED","worker_id":"w:1"},"tasks":[],"type":"source"}"#,
        )
        .unwrap();
        assert!(stopped.is_in(TargetState::Stopped));
        assert!(!stopped.is_in(TargetState::Running));
        assert_eq!(stopped.summary(), "STOPPED (no tasks)");

        // Stopped connector whose tasks are still listed: not yet fully stopped.
        let stopping = ConnectorStatus::from_json(
            br#"{"name":"c","connector":{"state":"STOPPED","worker_id":"w:1"},"tasks":[{"id":0,"state":"RUNNING","worker_id":"w:1"}]}"#,
        )
        .unwrap();
        assert!(!stopping.is_in(TargetState::Stopped));

        let running_no_tasks = ConnectorStatus::from_json(
            br#"{"name":"c","connector":{"state":"RUNNING","worker_id":"w:1"},"tasks":[]}"#,
        )
        .unwrap();
        assert!(running_no_tasks.is_in(TargetState::Running));

        let paused = ConnectorStatus::from_json(
            br#"{"name":"c","connector":{"state":"PAUSED","worker_id":"w:1"},"tasks":[{"id":0,"state":"PAUSED","worker_id":"w:1"}]}"#,
        )
        .unwrap();
        assert!(paused.is_in(TargetState::Paused));

        let odd = ConnectorStatus::from_json(
            br#"{"name":"c","connector":{"state":"DRAINING","worker_id":"w:1"}}"#,
        )
        .unwrap();
        assert_eq!(
            odd.connector_state,
            ConnectorState::Other("DRAINING".into())
        );
        assert!(odd.tasks.is_empty());

        let failed = ConnectorStatus::from_json(
            br#"{"name":"c","connector":{"state":"FAILED","worker_id":"w:1","trace":"boom\nmore"},"tasks":[]}"#,
        )
        .unwrap();
        assert_eq!(
            failed.failures(),
            vec!["connector FAILED on worker w:1: boom"]
        );
    }

    #[test]
    fn status_serializes_for_the_journal() {
        let s = ConnectorStatus::from_json(
            br#"{"name":"c","connector":{"state":"RUNNING","worker_id":"w:1"},"tasks":[{"id":0,"state":"RUNNING","worker_id":"w:1"}]}"#,
        )
        .unwrap();
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(v["connector_state"], "RUNNING");
        assert_eq!(v["tasks"][0]["state"], "RUNNING");
        let back: ConnectorStatus = serde_json::from_value(v).unwrap();
        assert_eq!(back, s);
    }

    #[test]
    fn target_state_json() {
        assert_eq!(
            serde_json::to_value(TargetState::Stopped).unwrap(),
            "STOPPED"
        );
        assert_eq!(TargetState::Running.to_string(), "RUNNING");
    }

    #[test]
    fn mirror_offset_is_last_copied() {
        let e = mirror_source_offset("dc1", "orders", 3, 1000).unwrap();
        assert_eq!(
            serde_json::to_value(&e).unwrap(),
            json!({"partition": {"cluster": "dc1", "topic": "orders", "partition": 3},
                   "offset": {"offset": 999}})
        );
        let back = parse_mirror_source_offset(&e).unwrap();
        assert_eq!(back.source_alias, "dc1");
        assert_eq!(back.topic, "orders");
        assert_eq!(back.partition, 3);
        assert_eq!(back.last_copied, Some(999));
        assert_eq!(back.next_offset_to_copy(), Some(1000));

        let one = mirror_source_offset("dc1", "orders", 0, 1).unwrap();
        assert_eq!(one.offset.unwrap()["offset"], json!(0));
    }

    #[test]
    fn mirror_offset_zero_is_a_tombstone() {
        let e = mirror_source_offset("dc2", "t", 0, 0).unwrap();
        assert_eq!(
            serde_json::to_value(&e).unwrap(),
            json!({"partition": {"cluster": "dc2", "topic": "t", "partition": 0}, "offset": null})
        );
        let back = parse_mirror_source_offset(&e).unwrap();
        assert_eq!(back.last_copied, None);
        assert_eq!(back.next_offset_to_copy(), None);
        assert!(mirror_source_offset("dc2", "t", 0, -5).is_err());
        assert!(mirror_source_offset("dc2", "t", -1, 5).is_err());
    }

    #[test]
    fn mirror_offset_parser_edge_cases() {
        let parse = |v: Value| {
            let e: ConnectorOffset = serde_json::from_value(v).unwrap();
            parse_mirror_source_offset(&e)
        };
        // Negative stored offsets mean "no position" to MirrorSourceTask.
        let n = parse(
            json!({"partition": {"cluster": "a", "topic": "t", "partition": 1},
                             "offset": {"offset": -1}}),
        )
        .unwrap();
        assert_eq!(n.last_copied, None);
        // Partition encoded as a long is fine.
        let big = parse(
            json!({"partition": {"cluster": "a", "topic": "t", "partition": 7},
                               "offset": {"offset": 9_000_000_000_i64}}),
        )
        .unwrap();
        assert_eq!(big.last_copied, Some(9_000_000_000));
        assert_eq!(big.partition, 7);
        for bad in [
            json!({"partition": {"topic": "t", "partition": 1}, "offset": {"offset": 1}}),
            json!({"partition": {"cluster": 1, "topic": "t", "partition": 1}, "offset": null}),
            json!({"partition": {"cluster": "a", "topic": "t", "partition": "1"}, "offset": null}),
            json!({"partition": {"cluster": "a", "topic": "t", "partition": -1}, "offset": null}),
            json!({"partition": {"cluster": "a", "topic": "t", "partition": 4_294_967_296_i64}, "offset": null}),
            json!({"partition": {"cluster": "a", "topic": "t", "partition": 1}, "offset": {"offset": "5"}}),
        ] {
            let err = parse(bad.clone()).unwrap_err();
            assert!(
                matches!(err, ConnectError::InvalidMirrorOffset { .. }),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn comparable_config_ignores_name() {
        let mut a = BTreeMap::new();
        a.insert("name".to_string(), "x".to_string());
        a.insert("topics".to_string(), "t".to_string());
        let mut b = BTreeMap::new();
        b.insert("topics".to_string(), "t".to_string());
        assert_eq!(comparable_config(&a), comparable_config(&b));
    }
}
