//! Plain data types returned by `KafkaClient`: metadata, offsets, groups, ACLs, records.
//!
//! Nothing here talks to Kafka. ACL types are serde-serializable so that fences can be
//! journaled and shown in plans as they are.

use std::fmt;

use serde::{Deserialize, Serialize};

/// One broker of a cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Broker {
    pub id: i32,
    pub host: String,
    pub port: u16,
}

/// A topic and its partition ids (sorted).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicMeta {
    pub name: String,
    pub partitions: Vec<i32>,
}

/// A topic the metadata response reported an error for (left out of `topics`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicMetaError {
    pub topic: String,
    pub code: i32,
    pub code_name: String,
    pub message: String,
}

/// Brokers and topics of a cluster, as one metadata response saw them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterMetadata {
    /// Sorted by id.
    pub brokers: Vec<Broker>,
    /// Sorted by name; topics whose metadata had an error are in `topic_errors` instead.
    pub topics: Vec<TopicMeta>,
    pub topic_errors: Vec<TopicMetaError>,
}

impl ClusterMetadata {
    pub fn topic(&self, name: &str) -> Option<&TopicMeta> {
        self.topics.iter().find(|t| t.name == name)
    }
}

/// DescribeCluster: identity, controller and what our principal may do on the cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterDescription {
    pub cluster_id: Option<String>,
    pub controller_id: Option<i32>,
    pub brokers: Vec<Broker>,
    /// Operations our principal may perform on the cluster resource; `None` when the
    /// broker did not report them (older brokers).
    pub authorized_operations: Option<Vec<AclOperation>>,
}

impl ClusterDescription {
    /// Whether our principal may perform `op` on the cluster resource (`None`: unknown).
    pub fn may(&self, op: AclOperation) -> Option<bool> {
        self.authorized_operations
            .as_ref()
            .map(|ops| ops.contains(&op) || ops.contains(&AclOperation::All))
    }

    /// DescribeAcls needs DESCRIBE on the cluster resource.
    pub fn may_describe_acls(&self) -> Option<bool> {
        self.may(AclOperation::Describe)
    }

    /// CreateAcls and DeleteAcls need ALTER on the cluster resource.
    pub fn may_alter_acls(&self) -> Option<bool> {
        self.may(AclOperation::Alter)
    }
}

/// Earliest (log start), latest (high watermark) and last stable offsets of a partition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionWatermarks {
    pub topic: String,
    pub partition: i32,
    pub earliest: i64,
    pub latest: i64,
    /// The last stable offset (ListOffsets with read_committed): the first offset of the
    /// oldest transaction still open, or `latest` when none is. A read_committed consumer
    /// reads nothing at or past it.
    pub stable: i64,
}

/// The isolation level a reader uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isolation {
    /// Every record of the log, those of aborted and open transactions included.
    ReadUncommitted,
    /// Only what committed (and non-transactional records), up to the last stable offset.
    ReadCommitted,
}

impl Isolation {
    /// The value of the client property `isolation.level`.
    pub fn as_config(self) -> &'static str {
        match self {
            Isolation::ReadUncommitted => "read_uncommitted",
            Isolation::ReadCommitted => "read_committed",
        }
    }
}

/// What `committed_offset_runs` found: the offsets a read_committed consumer reads, as
/// sorted disjoint runs `[start, end)`, and the last stable offset when it read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommittedRuns {
    pub runs: Vec<(i64, i64)>,
    pub stable: i64,
}

/// The state of a consumer group, as the coordinator reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupState {
    Unknown,
    PreparingRebalance,
    CompletingRebalance,
    Stable,
    Dead,
    Empty,
}

impl GroupState {
    pub(crate) fn from_raw(v: i64) -> GroupState {
        match v {
            1 => GroupState::PreparingRebalance,
            2 => GroupState::CompletingRebalance,
            3 => GroupState::Stable,
            4 => GroupState::Dead,
            5 => GroupState::Empty,
            _ => GroupState::Unknown,
        }
    }

    /// Empty or dead (or absent): nobody consumes, offsets may be altered.
    pub fn is_inactive(self) -> bool {
        matches!(self, GroupState::Empty | GroupState::Dead)
    }
}

impl fmt::Display for GroupState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            GroupState::Unknown => "Unknown",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
            GroupState::Dead => "Dead",
            GroupState::Empty => "Empty",
        };
        f.write_str(s)
    }
}

/// The rebalance protocol a group uses (KIP-848 `consumer` or the `classic` one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupType {
    Unknown,
    Consumer,
    Classic,
}

impl GroupType {
    pub(crate) fn from_raw(v: i64) -> GroupType {
        match v {
            1 => GroupType::Consumer,
            2 => GroupType::Classic,
            _ => GroupType::Unknown,
        }
    }
}

/// One entry of ListConsumerGroups.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupListing {
    pub group: String,
    pub state: GroupState,
    /// A "simple" group only commits offsets and has no members/protocol.
    pub is_simple: bool,
    pub group_type: GroupType,
}

/// One member of a described group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupMember {
    pub client_id: String,
    pub consumer_id: String,
    pub host: String,
    pub group_instance_id: Option<String>,
    pub assignment: Vec<(String, i32)>,
}

/// DescribeConsumerGroups for one group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupDescription {
    pub group: String,
    pub state: GroupState,
    /// Number of active members.
    pub members: usize,
    pub member_details: Vec<GroupMember>,
    pub is_simple: bool,
    pub coordinator_id: Option<i32>,
    /// What our principal may do on the group; `None` when not reported.
    pub authorized_operations: Option<Vec<AclOperation>>,
}

/// The type of resource an ACL applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResourceType {
    Topic,
    Group,
    /// The cluster resource; its name is always `kafka-cluster`.
    Cluster,
    TransactionalId,
    /// A type this client does not know (only ever read back from a broker).
    Unknown,
}

impl ResourceType {
    /// The name every cluster-resource ACL uses.
    pub const CLUSTER_NAME: &'static str = "kafka-cluster";
}

impl fmt::Display for ResourceType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ResourceType::Topic => "topic",
            ResourceType::Group => "group",
            ResourceType::Cluster => "cluster",
            ResourceType::TransactionalId => "transactional id",
            ResourceType::Unknown => "unknown resource",
        })
    }
}

/// How an ACL's resource name matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PatternType {
    Literal,
    Prefixed,
    Unknown,
}

impl fmt::Display for PatternType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PatternType::Literal => "literal",
            PatternType::Prefixed => "prefixed",
            PatternType::Unknown => "unknown pattern",
        })
    }
}

/// An ACL operation (Kafka's `AclOperation`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AclOperation {
    All,
    Read,
    Write,
    Create,
    Delete,
    Alter,
    Describe,
    ClusterAction,
    DescribeConfigs,
    AlterConfigs,
    IdempotentWrite,
    Unknown,
}

impl AclOperation {
    pub(crate) fn from_raw(v: i64) -> AclOperation {
        match v {
            2 => AclOperation::All,
            3 => AclOperation::Read,
            4 => AclOperation::Write,
            5 => AclOperation::Create,
            6 => AclOperation::Delete,
            7 => AclOperation::Alter,
            8 => AclOperation::Describe,
            9 => AclOperation::ClusterAction,
            10 => AclOperation::DescribeConfigs,
            11 => AclOperation::AlterConfigs,
            12 => AclOperation::IdempotentWrite,
            _ => AclOperation::Unknown,
        }
    }
}

impl fmt::Display for AclOperation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AclOperation::All => "ALL",
            AclOperation::Read => "READ",
            AclOperation::Write => "WRITE",
            AclOperation::Create => "CREATE",
            AclOperation::Delete => "DELETE",
            AclOperation::Alter => "ALTER",
            AclOperation::Describe => "DESCRIBE",
            AclOperation::ClusterAction => "CLUSTER_ACTION",
            AclOperation::DescribeConfigs => "DESCRIBE_CONFIGS",
            AclOperation::AlterConfigs => "ALTER_CONFIGS",
            AclOperation::IdempotentWrite => "IDEMPOTENT_WRITE",
            AclOperation::Unknown => "UNKNOWN",
        })
    }
}

/// Allow or deny. A DENY always wins over an ALLOW.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AclPermission {
    Allow,
    Deny,
    Unknown,
}

impl fmt::Display for AclPermission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AclPermission::Allow => "ALLOW",
            AclPermission::Deny => "DENY",
            AclPermission::Unknown => "UNKNOWN",
        })
    }
}

/// One ACL: `permission operation` on `resource_type name (pattern)` for `principal` from `host`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct AclBinding {
    pub resource_type: ResourceType,
    pub name: String,
    pub pattern: PatternType,
    /// e.g. `User:mirror`
    pub principal: String,
    /// `*` for any host.
    pub host: String,
    pub operation: AclOperation,
    pub permission: AclPermission,
}

impl AclBinding {
    /// A literal-pattern binding from any host (`*`), the usual shape of a fence.
    pub fn literal(
        permission: AclPermission,
        operation: AclOperation,
        resource_type: ResourceType,
        name: impl Into<String>,
        principal: impl Into<String>,
    ) -> AclBinding {
        AclBinding {
            resource_type,
            name: name.into(),
            pattern: PatternType::Literal,
            principal: principal.into(),
            host: "*".to_string(),
            operation,
            permission,
        }
    }

    /// The filter that matches exactly this binding.
    pub fn to_filter(&self) -> AclFilter {
        AclFilter {
            resource_type: Some(self.resource_type),
            name: Some(self.name.clone()),
            pattern: Some(self.pattern),
            principal: Some(self.principal.clone()),
            host: Some(self.host.clone()),
            operation: Some(self.operation),
            permission: Some(self.permission),
        }
    }
}

impl fmt::Display for AclBinding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} on {} `{}` ({}) for {} from {}",
            self.permission,
            self.operation,
            self.resource_type,
            self.name,
            self.pattern,
            self.principal,
            self.host
        )
    }
}

/// A filter for DescribeAcls / DeleteAcls: `None` matches anything in that field.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AclFilter {
    pub resource_type: Option<ResourceType>,
    pub name: Option<String>,
    /// `None` matches any pattern type (exact names only: no prefix matching).
    pub pattern: Option<PatternType>,
    pub principal: Option<String>,
    pub host: Option<String>,
    pub operation: Option<AclOperation>,
    pub permission: Option<AclPermission>,
}

impl AclFilter {
    /// Matches every ACL of the cluster.
    pub fn any() -> AclFilter {
        AclFilter::default()
    }

    /// Matches every ACL of `principal`.
    pub fn for_principal(principal: impl Into<String>) -> AclFilter {
        AclFilter {
            principal: Some(principal.into()),
            ..AclFilter::default()
        }
    }

    /// Whether `acl` matches this filter (same rule as the broker for exact fields).
    pub fn matches(&self, acl: &AclBinding) -> bool {
        self.resource_type.is_none_or(|t| t == acl.resource_type)
            && self.name.as_ref().is_none_or(|n| *n == acl.name)
            && self.pattern.is_none_or(|p| p == acl.pattern)
            && self.principal.as_ref().is_none_or(|p| *p == acl.principal)
            && self.host.as_ref().is_none_or(|h| *h == acl.host)
            && self.operation.is_none_or(|o| o == acl.operation)
            && self.permission.is_none_or(|p| p == acl.permission)
    }
}

/// How a record's timestamp was set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimestampType {
    NotAvailable,
    CreateTime,
    LogAppendTime,
}

/// A record header: name and value (`None`: a null value).
pub type RecordHeader = (String, Option<Vec<u8>>);

/// One record as stored in a partition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    /// Milliseconds since the epoch; -1 when not available.
    pub timestamp_ms: i64,
    pub timestamp_type: TimestampType,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    /// In record order; header names that are not UTF-8 are decoded lossily.
    pub headers: Vec<RecordHeader>,
}

/// A record to produce (tests, demos, quarantine copies).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProduceRecord {
    /// `None`: let the partitioner choose.
    pub partition: Option<i32>,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub headers: Vec<RecordHeader>,
    /// `None`: the producer's current time.
    pub timestamp_ms: Option<i64>,
}

/// Where a produced record landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivered {
    pub partition: i32,
    pub offset: i64,
}

/// How a streaming read ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadSummary {
    /// Records handed to the callback.
    pub records: u64,
    /// Offset of the last record handed over, if any.
    pub last_offset: Option<i64>,
    /// The callback asked to stop before the end of the range.
    pub stopped_early: bool,
}

/// One MM2 offset sync, as read from an `mm2-offset-syncs.<alias>.internal` topic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OffsetSync {
    /// The SOURCE topic name.
    pub topic: String,
    pub partition: i32,
    /// Offset on the source cluster.
    pub upstream: i64,
    /// The matching offset on the target cluster.
    pub downstream: i64,
    /// Offset of this sync record inside the offset-syncs topic.
    pub offset_in_syncs_topic: i64,
    /// Timestamp of the sync record (ms), -1 if not available.
    pub timestamp_ms: i64,
}

/// One MM2 checkpoint, as read from a `<source>.checkpoints.internal` topic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub group: String,
    /// The TARGET-side topic name.
    pub topic: String,
    pub partition: i32,
    /// The group's committed offset on the source.
    pub upstream: i64,
    /// MM2's translation of it on the target.
    pub downstream: i64,
    pub metadata: String,
    /// Offset of this record inside the checkpoints topic.
    pub offset_in_checkpoints_topic: i64,
    pub timestamp_ms: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acl_display_reads_like_a_sentence() {
        let acl = AclBinding::literal(
            AclPermission::Deny,
            AclOperation::Write,
            ResourceType::Topic,
            "orders",
            "User:mirror",
        );
        assert_eq!(
            acl.to_string(),
            "DENY WRITE on topic `orders` (literal) for User:mirror from *"
        );
        let acl = AclBinding {
            pattern: PatternType::Prefixed,
            resource_type: ResourceType::TransactionalId,
            name: "mm2-".into(),
            operation: AclOperation::AlterConfigs,
            permission: AclPermission::Allow,
            ..acl
        };
        assert_eq!(
            acl.to_string(),
            "ALLOW ALTER_CONFIGS on transactional id `mm2-` (prefixed) for User:mirror from *"
        );
    }

    #[test]
    fn acl_serde_round_trip() {
        let acl = AclBinding::literal(
            AclPermission::Deny,
            AclOperation::Write,
            ResourceType::Topic,
            "orders",
            "User:mirror",
        );
        let json = serde_json::to_string(&acl).unwrap();
        assert_eq!(
            json,
            r#"{"resource_type":"topic","name":"orders","pattern":"literal","principal":"User:mirror","host":"*","operation":"write","permission":"deny"}"#
        );
        let back: AclBinding = serde_json::from_str(&json).unwrap();
        assert_eq!(back, acl);
    }

    #[test]
    fn filters_match_exact_fields() {
        let acl = AclBinding::literal(
            AclPermission::Deny,
            AclOperation::Write,
            ResourceType::Topic,
            "orders",
            "User:mirror",
        );
        assert!(acl.to_filter().matches(&acl));
        assert!(AclFilter::any().matches(&acl));
        assert!(AclFilter::for_principal("User:mirror").matches(&acl));
        assert!(!AclFilter::for_principal("User:app").matches(&acl));
    }

    #[test]
    fn cluster_permissions() {
        let mut d = ClusterDescription {
            cluster_id: None,
            controller_id: None,
            brokers: vec![],
            authorized_operations: None,
        };
        assert_eq!(d.may_alter_acls(), None);
        d.authorized_operations = Some(vec![AclOperation::Describe]);
        assert_eq!(d.may_alter_acls(), Some(false));
        assert_eq!(d.may_describe_acls(), Some(true));
        d.authorized_operations = Some(vec![AclOperation::All]);
        assert_eq!(d.may_alter_acls(), Some(true));
    }
}
