//! The catalog of runbook actions: each action's name and the parameters it takes.
//!
//! The runbook loader checks every step against this table (unknown action, unknown,
//! missing or wrongly typed parameter) and fills in defaults, so actions receive complete,
//! well-typed `params`. The catalog describes; it does not run anything: the engine maps
//! names to `Action` implementations in src/actions/. Adding an action here is one entry in
//! `ACTIONS`; name the action file in src/actions/ after it.

use serde_json::{Map, Value};

/// The type of a parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamKind {
    /// Any string.
    String,
    /// An integer >= 1.
    PositiveInt,
    Bool,
    /// A list of strings.
    StringList,
    /// A mapping of string to string.
    StringMap,
    /// The name of a cluster of the topology (checked by `validate_against`).
    Cluster,
    /// A list of cluster names.
    ClusterList,
    /// The id of an earlier step of the same runbook running the named action (e.g. the
    /// `groups.translate` step a `groups.commit` reads). Checked when the runbook loads, so
    /// a misspelt or later step is refused before any step runs.
    Step(&'static str),
}

impl ParamKind {
    /// "a string", "a positive integer"... for messages.
    pub fn describe(self) -> &'static str {
        match self {
            ParamKind::String => "a string",
            ParamKind::PositiveInt => "a positive integer",
            ParamKind::Bool => "a boolean (`true` or `false`)",
            ParamKind::StringList => "a list of strings",
            ParamKind::StringMap => "a mapping of strings to strings",
            ParamKind::Cluster => "a cluster name",
            ParamKind::ClusterList => "a list of cluster names",
            ParamKind::Step(_) => "the id of an earlier step",
        }
    }
}

/// Whether a parameter must be given, and what it is when it is not.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Presence {
    Required,
    /// Absent from `params` when not given.
    Optional,
    DefaultInt(u64),
    DefaultBool(bool),
    DefaultStr(&'static str),
    /// `[]`
    DefaultEmptyList,
    /// `{}`
    DefaultEmptyMap,
}

impl Presence {
    /// The JSON value filled in when the parameter is absent.
    pub fn default_value(self) -> Option<Value> {
        match self {
            Presence::Required | Presence::Optional => None,
            Presence::DefaultInt(n) => Some(Value::from(n)),
            Presence::DefaultBool(b) => Some(Value::Bool(b)),
            Presence::DefaultStr(s) => Some(Value::from(s)),
            Presence::DefaultEmptyList => Some(Value::Array(Vec::new())),
            Presence::DefaultEmptyMap => Some(Value::Object(Map::new())),
        }
    }
}

/// One parameter of an action.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ParamSpec {
    pub name: &'static str,
    pub kind: ParamKind,
    pub presence: Presence,
    /// Lists, maps and strings must not be empty.
    pub non_empty: bool,
    /// One line for `--help`-style listings.
    pub doc: &'static str,
}

/// A required parameter.
pub const fn required(name: &'static str, kind: ParamKind, doc: &'static str) -> ParamSpec {
    ParamSpec {
        name,
        kind,
        presence: Presence::Required,
        non_empty: false,
        doc,
    }
}

/// A required parameter that must not be empty (a list with at least one item...).
pub const fn required_non_empty(
    name: &'static str,
    kind: ParamKind,
    doc: &'static str,
) -> ParamSpec {
    ParamSpec {
        name,
        kind,
        presence: Presence::Required,
        non_empty: true,
        doc,
    }
}

/// An optional parameter without a default (absent from `params` when not given).
pub const fn optional(name: &'static str, kind: ParamKind, doc: &'static str) -> ParamSpec {
    ParamSpec {
        name,
        kind,
        presence: Presence::Optional,
        non_empty: false,
        doc,
    }
}

/// An optional parameter with a default.
pub const fn with_default(
    name: &'static str,
    kind: ParamKind,
    default: Presence,
    doc: &'static str,
) -> ParamSpec {
    ParamSpec {
        name,
        kind,
        presence: default,
        non_empty: false,
        doc,
    }
}

/// A problem a cross-parameter check found.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamProblem {
    /// The parameter to point at.
    pub param: &'static str,
    /// The list item or map key within it, if any.
    pub item: Option<ItemRef>,
    pub message: String,
    pub help: Option<String>,
}

/// A list index or a map key.
#[derive(Debug, Clone, PartialEq)]
pub enum ItemRef {
    Index(usize),
    Key(String),
}

/// A check across parameters, run after each one is typed and defaults are filled in.
pub type Check = fn(&Map<String, Value>) -> Result<(), ParamProblem>;

/// One action of the catalog.
#[derive(Debug, Clone, Copy)]
pub struct ActionSpec {
    /// The name runbooks use, e.g. `watermarks.snapshot`.
    pub name: &'static str,
    /// One line shown in listings and "unknown action" errors.
    pub summary: &'static str,
    pub params: &'static [ParamSpec],
    pub check: Option<Check>,
}

impl ActionSpec {
    pub const fn new(
        name: &'static str,
        summary: &'static str,
        params: &'static [ParamSpec],
    ) -> Self {
        ActionSpec {
            name,
            summary,
            params,
            check: None,
        }
    }

    pub const fn checked(self, check: Check) -> Self {
        ActionSpec {
            check: Some(check),
            ..self
        }
    }

    pub fn param(&self, name: &str) -> Option<&'static ParamSpec> {
        self.params.iter().find(|p| p.name == name)
    }
}

use ParamKind as K;

/// Every action a runbook may use. Add one line per action.
pub static ACTIONS: &[ActionSpec] = &[
    ActionSpec::new(
        "confirm",
        "ask the operator to confirm before going on (`--yes` answers yes)",
        &[required_non_empty(
            "message",
            K::String,
            "the question shown to the operator",
        )],
    ),
    ActionSpec::new(
        "exec",
        "run an operator hook (a command) and require exit status 0",
        &[
            required_non_empty(
                "argv",
                K::StringList,
                "the command and its arguments; no shell is involved",
            ),
            with_default(
                "timeout_seconds",
                K::PositiveInt,
                Presence::DefaultInt(60),
                "kill the command after this many seconds",
            ),
            optional(
                "env",
                K::StringMap,
                "extra environment variables for the command",
            ),
            optional(
                "verify_argv",
                K::StringList,
                "a command whose exit 0 means the hook's effect is in place (checked on resume)",
            ),
        ],
    )
    .checked(check_exec),
    ActionSpec::new(
        "watermarks.snapshot",
        "record the low and high watermarks of every in-scope partition",
        &[
            required_non_empty("clusters", K::ClusterList, "the clusters to snapshot"),
            with_default(
                "timeout_seconds",
                K::PositiveInt,
                Presence::DefaultInt(10),
                "per-cluster timeout for listing offsets",
            ),
            with_default(
                "optional",
                K::ClusterList,
                Presence::DefaultEmptyList,
                "clusters that may be unreachable without failing the step",
            ),
        ],
    )
    .checked(check_snapshot),
    ActionSpec::new(
        "fence.apply",
        "create an ACL fence (DENY bindings) on a cluster, journal it, and prove it holds",
        &[
            required_non_empty(
                "fence",
                K::String,
                "`replication-into-backup` (the mirror principal) or `app-writes` (the app principals)",
            ),
            required("cluster", K::Cluster, "the cluster to fence (a name, or `primary`/`backup`)"),
            with_default(
                "observe_seconds",
                K::PositiveInt,
                Presence::DefaultInt(5),
                "replication-into-backup: no in-scope high watermark may move for this long (an extra signal after the ACL, super-user and cluster CREATE checks)",
            ),
            with_default(
                "timeout_seconds",
                K::PositiveInt,
                Presence::DefaultInt(10),
                "timeout of each Kafka request",
            ),
        ],
    ),
    ActionSpec::new(
        "fence.lift",
        "delete exactly the ACL bindings of a journaled fence",
        &[
            required_non_empty(
                "fence",
                K::String,
                "`replication-into-backup` or `app-writes`",
            ),
            required("cluster", K::Cluster, "the fenced cluster (a name, or `primary`/`backup`)"),
            with_default(
                "timeout_seconds",
                K::PositiveInt,
                Presence::DefaultInt(10),
                "timeout of each Kafka request",
            ),
        ],
    ),
    ActionSpec::new(
        "mirror.stop",
        "stop a flow's MM2 connectors (succeeds with a note when their Connect is unreachable)",
        &[
            with_default(
                "flow",
                K::String,
                Presence::DefaultStr("forward"),
                "`forward` (primary -> backup, on the backup's Connect) or `reverse`",
            ),
            with_default(
                "timeout_seconds",
                K::PositiveInt,
                Presence::DefaultInt(120),
                "how long to wait for the connectors to stop",
            ),
            with_default(
                "task_wait_seconds",
                K::PositiveInt,
                Presence::DefaultInt(1),
                "how long to wait, once a connector is stopped, for its tasks to shut down; a task blocked on a dead primary is reported as not confirmed and the run goes on (the fence keeps it out)",
            ),
        ],
    ),
    ActionSpec::new(
        "roles.promote",
        "lift the backup's `app-writes` guard and record it as the new primary",
        &[
            with_default(
                "lift_guard",
                K::Bool,
                Presence::DefaultBool(true),
                "lift the `app-writes` fence on the new primary first",
            ),
            with_default(
                "timeout_seconds",
                K::PositiveInt,
                Presence::DefaultInt(10),
                "timeout of each call to the cluster",
            ),
        ],
    ),
    ActionSpec::new(
        "deltas.record",
        "record MM2's offset syncs, the groups' positions (journal) and the replication lag",
        &[
            with_default(
                "primary",
                K::Cluster,
                Presence::DefaultStr("primary"),
                "the cluster replicated from (a name, or `primary`/`backup`)",
            ),
            with_default(
                "backup",
                K::Cluster,
                Presence::DefaultStr("backup"),
                "the cluster replicated to (a name, or `primary`/`backup`)",
            ),
            with_default(
                "timeout_seconds",
                K::PositiveInt,
                Presence::DefaultInt(10),
                "timeout of each Kafka or Connect request",
            ),
        ],
    ),
    ActionSpec::new(
        "deltas.import",
        "read the backup DC's copy of the recorded deltas (`replication.deltas_topic`) into the journal: what it lacks",
        &[
            with_default(
                "from",
                K::Cluster,
                Presence::DefaultStr("primary"),
                "the cluster the positions were recorded on (a name, or `primary`/`backup`)",
            ),
            with_default(
                "to",
                K::Cluster,
                Presence::DefaultStr("backup"),
                "the cluster holding the copy (a name, or `primary`/`backup`)",
            ),
            with_default(
                "timeout_seconds",
                K::PositiveInt,
                Presence::DefaultInt(10),
                "timeout of each Kafka request",
            ),
        ],
    ),
    ActionSpec::new(
        "groups.translate",
        "translate the groups' positions from the primary to the backup (read-only; kept as the step output)",
        &[
            with_default(
                "from",
                K::Cluster,
                Presence::DefaultStr("primary"),
                "the cluster the groups consumed from (a name, or `primary`/`backup`)",
            ),
            with_default(
                "to",
                K::Cluster,
                Presence::DefaultStr("backup"),
                "the cluster they move to (a name, or `primary`/`backup`)",
            ),
            optional(
                "groups",
                K::StringList,
                "only these groups (default: every in-scope group)",
            ),
            with_default(
                "timeout_seconds",
                K::PositiveInt,
                Presence::DefaultInt(10),
                "timeout of each Kafka request",
            ),
        ],
    ),
    ActionSpec::new(
        "groups.commit",
        "commit the translated offsets of a `groups.translate` step (refuses active groups)",
        &[
            with_default(
                "cluster",
                K::Cluster,
                Presence::DefaultStr("backup"),
                "where to commit: the `to` of the translate step (a name, or `primary`/`backup`)",
            ),
            with_default(
                "translate_step",
                K::Step("groups.translate"),
                Presence::DefaultStr("translate"),
                "the id of the `groups.translate` step of the same run",
            ),
            with_default(
                "skip_active",
                K::Bool,
                Presence::DefaultBool(false),
                "skip groups with active members (with a warning) instead of refusing",
            ),
            with_default(
                "timeout_seconds",
                K::PositiveInt,
                Presence::DefaultInt(10),
                "timeout of each Kafka request",
            ),
        ],
    ),
    ActionSpec::new(
        "tail.find",
        "find per partition the old primary's tail: the records that never reached the new primary (read-only; kept as the step output)",
        &[
            with_default(
                "old_primary",
                K::Cluster,
                Presence::DefaultStr("backup"),
                "the returned old primary (a name, or `primary`/`backup`)",
            ),
            with_default(
                "new_primary",
                K::Cluster,
                Presence::DefaultStr("primary"),
                "the promoted cluster whose promotion snapshot is the cut (a name, or `primary`/`backup`)",
            ),
            with_default(
                "timeout_seconds",
                K::PositiveInt,
                Presence::DefaultInt(30),
                "timeout of each Kafka request, and of each wait for the next record while searching",
            ),
        ],
    ),
    ActionSpec::new(
        "tail.quarantine",
        "copy every tail record to a JSON Lines file with a verified manifest (optionally also to a topic)",
        &[
            with_default(
                "find_step",
                K::Step("tail.find"),
                Presence::DefaultStr("tail-find"),
                "the id of the `tail.find` step of the same run",
            ),
            optional(
                "dir",
                K::String,
                "where to write (default: `quarantine/` beside the journal); files go to `<dir>/run-<run>/`",
            ),
            optional(
                "topic",
                K::String,
                "also copy the records to this topic on the new primary (must be outside the replication scope)",
            ),
            with_default(
                "timeout_seconds",
                K::PositiveInt,
                Presence::DefaultInt(30),
                "timeout of each Kafka request, and of each wait for the next record",
            ),
        ],
    ),
    ActionSpec::new(
        "tail.deliver",
        "prefix policy only: deliver the quarantined tail late, appending it to its replica topic on the new primary (`<old>.<topic>`) after the promotion cut",
        &[
            with_default(
                "find_step",
                K::Step("tail.find"),
                Presence::DefaultStr("tail-find"),
                "the id of the `tail.find` step of the same run",
            ),
            with_default(
                "quarantine_step",
                K::Step("tail.quarantine"),
                Presence::DefaultStr("tail-quarantine"),
                "the id of the `tail.quarantine` step whose verified quarantine holds the records to deliver",
            ),
            with_default(
                "timeout_seconds",
                K::PositiveInt,
                Presence::DefaultInt(30),
                "timeout of each Kafka request",
            ),
        ],
    ),
    ActionSpec::new(
        "truncate",
        "remove the quarantined tail from the old primary: `delete-records`, `recreate` or `keep`",
        &[
            with_default(
                "strategy",
                K::String,
                Presence::DefaultStr("delete-records"),
                "`delete-records` (DeleteRecords up to the log end where there is a tail), `recreate` (delete and create the topic again) or `keep` (delete nothing)",
            ),
            with_default(
                "compacted",
                K::String,
                Presence::DefaultStr("recreate"),
                "with `delete-records`, a compact-only topic with a tail (DeleteRecords is refused on it): `recreate` (delete and create it again; the reverse flow copies its whole history back) or `refuse` (the plan refuses, before anything is deleted)",
            ),
            with_default(
                "cluster",
                K::Cluster,
                Presence::DefaultStr("backup"),
                "the old primary (a name, or `primary`/`backup`)",
            ),
            with_default(
                "find_step",
                K::Step("tail.find"),
                Presence::DefaultStr("tail-find"),
                "the id of the `tail.find` step of the same run",
            ),
            with_default(
                "quarantine_step",
                K::Step("tail.quarantine"),
                Presence::DefaultStr("tail-quarantine"),
                "the id of the `tail.quarantine` step whose verified quarantine allows deleting",
            ),
            with_default(
                "no_quarantine",
                K::Bool,
                Presence::DefaultBool(false),
                "delete even without a verified quarantine (explicit opt-out)",
            ),
            optional(
                "topics",
                K::StringList,
                "only these topics (default: every topic with a tail)",
            ),
            with_default(
                "timeout_seconds",
                K::PositiveInt,
                Presence::DefaultInt(30),
                "timeout of each Kafka request",
            ),
        ],
    ),
    ActionSpec::new(
        "mirror.seed",
        "create the reverse MM2 connectors STOPPED and seed their offsets at the promotion cut",
        &[
            with_default(
                "strategy",
                K::String,
                Presence::DefaultStr("delete-records"),
                "the truncate step's: `delete-records` (copy from the promotion cut; also for `keep`) or `recreate` (copy from the earliest offset)",
            ),
            with_default(
                "timeout_seconds",
                K::PositiveInt,
                Presence::DefaultInt(60),
                "timeout of each Kafka or Connect request, and of each wait for a connector to stop",
            ),
        ],
    ),
    ActionSpec::new(
        "mirror.start",
        "resume the reverse MM2 connectors, wait until they catch up, check the first copies by fingerprint",
        &[
            with_default(
                "seed_step",
                K::Step("mirror.seed"),
                Presence::DefaultStr("mirror-seed"),
                "the id of the `mirror.seed` step of the same run",
            ),
            optional(
                "max_lag",
                K::PositiveInt,
                "the reverse lag (records) to wait for on every partition (default: 0, fully caught up)",
            ),
            with_default(
                "timeout_seconds",
                K::PositiveInt,
                Presence::DefaultInt(120),
                "how long to wait for the reverse flow to catch up",
            ),
        ],
    ),
    ActionSpec::new(
        "switchover.preflight",
        "before a switchover: both clusters answer, the mirror runs with a small lag, no group consumes on the backup (read-only)",
        &[
            with_default(
                "max_lag",
                K::PositiveInt,
                Presence::DefaultInt(10_000),
                "refuse when the mirror lags more records than this (the write outage lasts until they are copied)",
            ),
            with_default(
                "timeout_seconds",
                K::PositiveInt,
                Presence::DefaultInt(10),
                "timeout of each Kafka or Connect request",
            ),
        ],
    ),
    ActionSpec::new(
        "mirror.drain",
        "wait until the mirror has copied every record below the primary's last stable offset, then count loss and duplicates (read-only)",
        &[
            with_default(
                "from",
                K::Cluster,
                Presence::DefaultStr("primary"),
                "the cluster the mirror copies from (a name, or `primary`/`backup`)",
            ),
            with_default(
                "to",
                K::Cluster,
                Presence::DefaultStr("backup"),
                "the cluster it copies into (a name, or `primary`/`backup`)",
            ),
            with_default(
                "timeout_seconds",
                K::PositiveInt,
                Presence::DefaultInt(120),
                "how long to wait for the last records to be copied",
            ),
            with_default(
                "count_limit",
                K::PositiveInt,
                Presence::DefaultInt(100_000),
                "partitions with more offsets than this are not read in full for the loss and duplicate count",
            ),
        ],
    ),
    ActionSpec::new(
        "groups.idle",
        "wait until the in-scope consumer groups have no active members on a cluster (read-only)",
        &[
            with_default(
                "cluster",
                K::Cluster,
                Presence::DefaultStr("primary"),
                "the cluster whose groups must stop (a name, or `primary`/`backup`)",
            ),
            optional(
                "groups",
                K::StringList,
                "only these groups (default: every in-scope group)",
            ),
            with_default(
                "timeout_seconds",
                K::PositiveInt,
                Presence::DefaultInt(300),
                "how long to wait before refusing, naming the groups still active",
            ),
        ],
    ),
    ActionSpec::new(
        "groups.exact",
        "refuse, before any commit, every position of a `groups.translate` step that is not exact",
        &[with_default(
            "translate_step",
            K::Step("groups.translate"),
            Presence::DefaultStr("translate"),
            "the id of the `groups.translate` step of the same run",
        )],
    ),
];

/// The catalog entry for `name`.
pub fn action(name: &str) -> Option<&'static ActionSpec> {
    ACTIONS.iter().find(|a| a.name == name)
}

/// Every action name, in catalog order.
pub fn names() -> Vec<&'static str> {
    ACTIONS.iter().map(|a| a.name).collect()
}

fn check_exec(params: &Map<String, Value>) -> Result<(), ParamProblem> {
    if let Some(Value::Array(v)) = params.get("verify_argv") {
        if v.is_empty() {
            return Err(ParamProblem {
                param: "verify_argv",
                item: None,
                message: "`verify_argv` is empty".into(),
                help: Some("give the verification command, or remove `verify_argv`".into()),
            });
        }
    }
    if let Some(Value::Object(env)) = params.get("env") {
        for name in env.keys() {
            if name.is_empty() || name.contains('=') || name.contains('\0') {
                // The name is not shown (the problem points at `env`): a key written
                // `TOKEN=s3cret` holds the value it was meant to set.
                return Err(ParamProblem {
                    param: "env",
                    item: None,
                    message: "a key is not an environment variable name (it is empty or holds `=` or NUL; not shown, it may hold a value)".into(),
                    help: None,
                });
            }
        }
    }
    Ok(())
}

fn check_snapshot(params: &Map<String, Value>) -> Result<(), ParamProblem> {
    let names = |k: &str| -> Vec<&str> {
        match params.get(k) {
            Some(Value::Array(v)) => v.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        }
    };
    let clusters = names("clusters");
    for (i, c) in clusters.iter().enumerate() {
        if clusters[..i].contains(c) {
            return Err(ParamProblem {
                param: "clusters",
                item: Some(ItemRef::Index(i)),
                message: format!("cluster `{c}` is listed twice"),
                help: None,
            });
        }
    }
    for (i, c) in names("optional").iter().enumerate() {
        if !clusters.contains(c) {
            return Err(ParamProblem {
                param: "optional",
                item: Some(ItemRef::Index(i)),
                message: format!("`{c}` is in `optional` but not in `clusters`"),
                help: Some(format!(
                    "add `{c}` to `clusters`, or remove it from `optional`"
                )),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalog_is_consistent() {
        let mut seen = std::collections::BTreeSet::new();
        for a in ACTIONS {
            assert!(seen.insert(a.name), "duplicate action {}", a.name);
            let mut params = std::collections::BTreeSet::new();
            for p in a.params {
                assert!(
                    params.insert(p.name),
                    "duplicate param {}.{}",
                    a.name,
                    p.name
                );
                // A default must have the parameter's type.
                match (p.presence, p.kind) {
                    (Presence::DefaultInt(n), ParamKind::PositiveInt) => assert!(n >= 1),
                    (Presence::DefaultBool(_), ParamKind::Bool) => {}
                    (
                        Presence::DefaultStr(_),
                        ParamKind::String | ParamKind::Cluster | ParamKind::Step(_),
                    ) => {}
                    (
                        Presence::DefaultEmptyList,
                        ParamKind::StringList | ParamKind::ClusterList,
                    ) => {}
                    (Presence::DefaultEmptyMap, ParamKind::StringMap) => {}
                    (Presence::Required | Presence::Optional, _) => {}
                    (d, k) => panic!("{}.{}: default {d:?} does not fit {k:?}", a.name, p.name),
                }
            }
        }
        assert!(action("watermarks.snapshot").is_some());
        assert_eq!(names()[0], "confirm");
    }
}
