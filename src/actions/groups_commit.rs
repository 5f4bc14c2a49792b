//! `groups.commit`: the second half of moving consumer groups from the primary to the
//! backup, after `groups.translate` (groups_translate.rs).
//!
//! `groups.commit` (params `cluster`, `translate_step`, `skip_active`, `timeout_seconds`)
//! reads that output from the journal and commits the translated offsets on the backup
//! with AlterConsumerGroupOffsets. A group with active members there is refused by name
//! (or skipped with a warning under `skip_active`): Kafka cannot change the offsets of a
//! group that consumes. Out-of-scope groups are never touched. Idempotent: offsets already
//! in place are not written again.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::common;
use super::groups_translate::*;
use crate::engine::{Action, Plan, StepContext, Verdict};
use crate::error::Error;
use crate::kafka::{KafkaClient, KafkaError};
use crate::runbook::StepDef;
pub const COMMIT: &str = "groups.commit";
// groups.commit
// ---------------------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CommitParams {
    cluster: String,
    translate_step: String,
    #[serde(default)]
    skip_active: bool,
    timeout_seconds: u64,
}

/// The `groups.commit` action.
#[derive(Debug)]
pub struct Commit {
    cluster: String,
    translate_step: String,
    skip_active: bool,
    timeout: Duration,
    /// Groups skipped as active by the last plan or apply.
    skipped: Option<BTreeSet<String>>,
    /// The offsets to commit as read for run (id), on cluster: see `wanted`.
    loaded: Option<(i64, String, Wanted)>,
    /// The groups' state as the plan of run (id) just read it, for the apply that
    /// follows (the engine always plans right before it applies): apply describes the
    /// groups again in one request, for members that joined since, and takes the
    /// committed offsets from here instead of one more OffsetFetch per group.
    planned_read: Option<(i64, BTreeMap<String, GroupNow>)>,
}

/// The offsets to commit, per group: (target topic, partition) -> offset.
/// (topic, partition) -> offset, of one group.
type GroupOffsets = BTreeMap<(String, i32), i64>;

type Wanted = BTreeMap<String, GroupOffsets>;

/// (topic, partition, committed now, wanted).
type Difference = (String, i32, Option<i64>, i64);

/// A group's state on the target.
#[derive(Debug)]
struct GroupNow {
    members: usize,
    state: String,
    active: bool,
    committed: HashMap<(String, i32), i64>,
}

impl Commit {
    pub fn new(step: &StepDef) -> Result<Commit, Error> {
        let p: CommitParams = super::params(step, COMMIT)?;
        Ok(Commit {
            cluster: p.cluster,
            translate_step: p.translate_step,
            skip_active: p.skip_active,
            timeout: Duration::from_secs(p.timeout_seconds.max(1)),
            skipped: None,
            loaded: None,
            planned_read: None,
        })
    }

    /// The translation stored by the translate step of this run: its output, or under
    /// `--dry-run` (where nothing is applied) its plan.
    fn translation(&self, ctx: &StepContext<'_>) -> Result<TranslationReport, Error> {
        let Some(step) = ctx.journal.step_texts(ctx.run_id, &self.translate_step)? else {
            return Err(Error::Usage(format!(
                "step `{}` ({COMMIT}): run {} has no step `{}`\nhelp: set `translate_step` to the id of the run's `{TRANSLATE}` step",
                ctx.step_id, ctx.run_id, self.translate_step
            )));
        };
        if step.action != TRANSLATE {
            return Err(Error::Usage(format!(
                "step `{}` ({COMMIT}): step `{}` is a `{}` step, not `{TRANSLATE}`\nhelp: set `translate_step` to the id of the run's `{TRANSLATE}` step",
                ctx.step_id, self.translate_step, step.action
            )));
        }
        let unreadable = |e: serde_json::Error| {
            Error::Usage(format!(
                "step `{}` ({COMMIT}): cannot read the translation stored by step `{}` in run {}: {e}\nhelp: run the `{TRANSLATE}` step again (a new run)",
                ctx.step_id, self.translate_step, ctx.run_id
            ))
        };
        // Parsed straight into the report: the translation of a large estate is tens of
        // megabytes of JSON, and a detour through `serde_json::Value` doubles its cost.
        match (&step.output, &step.plan) {
            (Some(out), _) => serde_json::from_str(out).map_err(unreadable),
            (None, Some(plan)) if ctx.dry_run => {
                let mut plan: serde_json::Value = serde_json::from_str(plan).map_err(unreadable)?;
                serde_json::from_value(plan["detail"].take()).map_err(unreadable)
            }
            _ => Err(Error::Usage(format!(
                "step `{}` ({COMMIT}): step `{}` has stored no translation in run {} yet\nhelp: put the `{TRANSLATE}` step before this one in the runbook",
                ctx.step_id, self.translate_step, ctx.run_id
            ))),
        }
    }

    /// The target cluster and the offsets to commit there (in-scope groups only).
    /// The offsets to commit. Read from the journal once per run and process: the
    /// translate step's output does not change once stored, and parsing thousands of
    /// positions three times (plan, apply, verify) costs seconds.
    fn wanted(&mut self, ctx: &StepContext<'_>) -> Result<(String, Wanted), Error> {
        if let Some((run, cluster, wanted)) = &self.loaded {
            if *run == ctx.run_id {
                return Ok((cluster.clone(), wanted.clone()));
            }
        }
        let (cluster, wanted) = self.load_wanted(ctx)?;
        self.loaded = Some((ctx.run_id, cluster.clone(), wanted.clone()));
        Ok((cluster, wanted))
    }

    fn load_wanted(&self, ctx: &StepContext<'_>) -> Result<(String, Wanted), Error> {
        let cluster = common::resolve_cluster(ctx, &self.cluster)?;
        let report = self.translation(ctx)?;
        if report.to != cluster {
            return Err(Error::Usage(format!(
                "step `{}` ({COMMIT}): step `{}` translated to `{}`, but this step commits on `{cluster}`\nhelp: set `cluster` to `{}`, or translate to `{cluster}`",
                ctx.step_id, self.translate_step, report.to, report.to
            )));
        }
        let mut wanted: Wanted = BTreeMap::new();
        for p in report.positions {
            // Never touch a group outside the topology's scope, whatever the journal says.
            if !ctx.topology.replication.groups.matches(&p.group) {
                continue;
            }
            wanted
                .entry(p.group)
                .or_default()
                .insert((p.target_topic, p.partition), p.backup_offset);
        }
        Ok((cluster, wanted))
    }

    fn read_groups(
        &self,
        client: &KafkaClient,
        wanted: &Wanted,
    ) -> Result<BTreeMap<String, GroupNow>, Error> {
        let names: Vec<&str> = wanted.keys().map(String::as_str).collect();
        let descriptions = client.describe_groups(&names, self.timeout)?;
        let committed = common::in_parallel(&descriptions, |d| {
            client.committed_offsets(&d.group, self.timeout)
        });
        let mut out = BTreeMap::new();
        for (d, committed) in descriptions.into_iter().zip(committed) {
            let committed = committed?
                .into_iter()
                .map(|(t, p, o, _)| ((t, p), o))
                .collect();
            out.insert(
                d.group.clone(),
                GroupNow {
                    members: d.members,
                    state: d.state.to_string(),
                    active: d.members > 0 || !d.state.is_inactive(),
                    committed,
                },
            );
        }
        Ok(out)
    }

    /// The plan's read of the groups with their members and state described again now
    /// (one request for every group), or a whole fresh read when the plan made none.
    fn reread_groups(
        &mut self,
        ctx: &StepContext<'_>,
        client: &KafkaClient,
        wanted: &Wanted,
    ) -> Result<BTreeMap<String, GroupNow>, Error> {
        let Some((_, mut now)) = self
            .planned_read
            .take()
            .filter(|(run, now)| *run == ctx.run_id && wanted.keys().all(|g| now.contains_key(g)))
        else {
            return self.read_groups(client, wanted);
        };
        let names: Vec<&str> = wanted.keys().map(String::as_str).collect();
        for d in client.describe_groups(&names, self.timeout)? {
            if let Some(g) = now.get_mut(&d.group) {
                g.members = d.members;
                g.state = d.state.to_string();
                g.active = d.members > 0 || !d.state.is_inactive();
            }
        }
        Ok(now)
    }
}

/// A translated offset moved into the backup's `[log start, last stable offset]` at commit
/// time (the log start moved since the translation: retention ran in between).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
struct Clamp {
    group: String,
    topic: String,
    partition: i32,
    /// The translated offset.
    from: i64,
    /// The offset committed instead.
    to: i64,
    /// Records the group had not consumed that expired before the commit (`to - from`
    /// when moved forward, else 0): at most this many, some may have been consumed when
    /// the translation was not exact.
    expired_skipped: i64,
}

impl Clamp {
    fn text(&self, cluster: &str) -> String {
        if self.expired_skipped > 0 {
            format!(
                "group `{}` `{}`[{}]: the translated offset {} is below `{cluster}`'s log start {} now (expired since the translation): committed at the log start, the group will NEVER see those {} record(s)",
                self.group, self.topic, self.partition, self.from, self.to, self.expired_skipped
            )
        } else {
            format!(
                "group `{}` `{}`[{}]: the translated offset {} is past `{cluster}`'s last stable offset {} (its high watermark, or the start of a transaction still open there): committed there",
                self.group, self.topic, self.partition, self.from, self.to
            )
        }
    }
}

/// Clamp every wanted offset to the backup's bounds as they are now (a fresh read): its
/// log start and its last stable offset (never past an open transaction's start).
fn bound_now(
    client: &KafkaClient,
    wanted: &mut Wanted,
    timeout: Duration,
) -> Result<Vec<Clamp>, Error> {
    let parts: BTreeSet<(String, i32)> = wanted.values().flat_map(|o| o.keys().cloned()).collect();
    let parts: Vec<(String, i32)> = parts.into_iter().collect();
    let marks: HashMap<(String, i32), (i64, i64)> = client
        .watermarks(&parts, timeout)?
        .into_iter()
        .map(|w| ((w.topic, w.partition), (w.earliest, w.stable)))
        .collect();
    let mut clamps = Vec::new();
    for (group, offsets) in wanted.iter_mut() {
        for ((t, p), o) in offsets.iter_mut() {
            let Some(&(start, end)) = marks.get(&(t.clone(), *p)) else {
                continue;
            };
            let to = (*o).clamp(start, end.max(start));
            if to != *o {
                clamps.push(Clamp {
                    group: group.clone(),
                    topic: t.clone(),
                    partition: *p,
                    from: *o,
                    to,
                    expired_skipped: (to - *o).max(0),
                });
                *o = to;
            }
        }
    }
    Ok(clamps)
}

/// The partitions whose committed offset differs from the wanted one:
/// (topic, partition, current, wanted).
fn differences(wanted: &GroupOffsets, now: Option<&GroupNow>) -> Vec<Difference> {
    wanted
        .iter()
        .filter_map(|((t, p), o)| {
            let current = now.and_then(|n| n.committed.get(&(t.clone(), *p)).copied());
            (current != Some(*o)).then(|| (t.clone(), *p, current, *o))
        })
        .collect()
}

fn active_refusal(cluster: &str, active: &[(&str, &GroupNow)]) -> Error {
    let names: Vec<String> = active
        .iter()
        .map(|(g, n)| {
            format!(
                "group `{g}` has {} active member(s) on `{cluster}` (state {})",
                n.members, n.state
            )
        })
        .collect();
    let list: Vec<String> = active.iter().map(|(g, _)| format!("`{g}`")).collect();
    Error::Kafka(KafkaError::InvalidArgument {
        cluster: cluster.to_string(),
        operation: format!("committing translated offsets of {}", list.join(", ")),
        message: format!(
            "{}; nothing was committed\nhelp: stop its consumers on `{cluster}` and resume the run, or set `skip_active: true` to leave active groups as they are",
            names.join("; ")
        ),
    })
}

impl Action for Commit {
    fn name(&self) -> &'static str {
        COMMIT
    }

    fn plan(&mut self, ctx: &mut StepContext<'_>) -> Result<Plan, Error> {
        let (cluster, wanted) = self.wanted(ctx)?;
        let mut plan = Plan::default();
        let mut detail = Vec::new();
        let mut skipped = BTreeSet::new();
        if wanted.is_empty() {
            plan.notes
                .push("no translated group position to commit".to_string());
            self.skipped = Some(skipped);
            return Ok(plan);
        }
        let client = common::kafka_in(ctx, &cluster, self.timeout)?;
        let mut wanted = wanted;
        let clamps = bound_now(&client, &mut wanted, self.timeout)?;
        for c in &clamps {
            let w = c.text(&cluster);
            ctx.reporter.warn(&w);
            plan.notes.push(format!("WARNING: {w}"));
        }
        let now = self.read_groups(&client, &wanted)?;
        self.planned_read = None;
        let total_changes: usize = wanted
            .iter()
            .map(|(group, offsets)| differences(offsets, now.get(group)).len())
            .sum();
        for (group, offsets) in &wanted {
            let g = now.get(group);
            let diffs = differences(offsets, g);
            let unchanged = offsets.len() - diffs.len();
            if let Some(g) = g.filter(|g| g.active) {
                if diffs.is_empty() {
                    plan.notes.push(format!(
                        "group `{group}` ({} active member(s) on `{cluster}`): already at the translated offsets",
                        g.members
                    ));
                } else if self.skip_active {
                    plan.notes.push(format!(
                        "group `{group}` has {} active member(s) on `{cluster}` (state {}): skipped (skip_active), {} offset(s) left as they are",
                        g.members, g.state, diffs.len()
                    ));
                    skipped.insert(group.clone());
                } else {
                    plan.changes.push(format!(
                        "`{cluster}`: group `{group}` has {} active member(s) (state {}): its {} offset(s) will be REFUSED; help: stop its consumers on `{cluster}`, or set skip_active",
                        g.members, g.state, diffs.len()
                    ));
                }
                detail.push(json!({"group": group, "active": true, "members": g.members, "changes": diffs.len()}));
                continue;
            }
            if total_changes <= PLAN_POSITION_LINES {
                for (t, p, current, new) in &diffs {
                    plan.changes.push(format!(
                        "`{cluster}`: group `{group}`: commit `{t}`[{p}] at {new} (now {})",
                        current.map_or("no committed offset".to_string(), |c| c.to_string())
                    ));
                }
            } else if !diffs.is_empty() {
                // A large estate: one line per group; the plan's detail (journal,
                // `--output json`) lists every offset.
                let topics: BTreeSet<&str> = diffs.iter().map(|(t, ..)| t.as_str()).collect();
                let fresh = diffs.iter().filter(|d| d.2.is_none()).count();
                plan.changes.push(format!(
                    "`{cluster}`: group `{group}`: commit {} offset(s) on {} topic(s) ({} with no committed offset yet)",
                    diffs.len(),
                    topics.len(),
                    fresh
                ));
            }
            if unchanged > 0 {
                plan.notes.push(format!(
                    "group `{group}`: {unchanged} partition(s) already at the translated offset"
                ));
            }
            detail.push(json!({
                "group": group,
                "active": false,
                "changes": diffs.iter().map(|(t, p, c, n)| json!({"topic": t, "partition": p, "from": c, "to": n})).collect::<Vec<_>>(),
                "unchanged": unchanged,
            }));
        }
        self.skipped = Some(skipped);
        plan.detail = json!({ "cluster": cluster, "groups": detail, "clamped": clamps });
        self.planned_read = Some((ctx.run_id, now));
        Ok(plan)
    }

    fn apply(
        &mut self,
        ctx: &mut StepContext<'_>,
        _plan: &Plan,
    ) -> Result<serde_json::Value, Error> {
        let (cluster, mut wanted) = self.wanted(ctx)?;
        let client = common::kafka_in(ctx, &cluster, self.timeout)?;
        // The backup's bounds again, now: its log start may have moved since the plan.
        let clamps = bound_now(&client, &mut wanted, self.timeout)?;
        for c in &clamps {
            ctx.reporter.warn(&c.text(&cluster));
        }
        let now = self.reread_groups(ctx, &client, &wanted)?;
        // Refuse before committing anything: an operator fixes one thing and resumes.
        let active: Vec<(&str, &GroupNow)> = wanted
            .iter()
            .filter_map(|(g, offsets)| {
                let n = now.get(g)?;
                (n.active && !differences(offsets, Some(n)).is_empty()).then_some((g.as_str(), n))
            })
            .collect();
        if !active.is_empty() && !self.skip_active {
            return Err(active_refusal(&cluster, &active));
        }
        let skipped: BTreeSet<String> = active.iter().map(|(g, _)| g.to_string()).collect();
        for (g, n) in &active {
            ctx.reporter.warn(&format!(
                "group `{g}` has {} active member(s) on `{cluster}`: skipped (skip_active); its offsets were not changed",
                n.members
            ));
        }
        let work: Vec<(&String, Vec<Difference>)> = wanted
            .iter()
            .filter(|(group, _)| !skipped.contains(*group))
            .map(|(group, offsets)| (group, differences(offsets, now.get(group))))
            .filter(|(_, diffs)| !diffs.is_empty())
            .collect();
        // Groups are committed concurrently; each commit is idempotent, so a failure
        // leaves the others done and a resume commits what is left.
        let results = common::in_parallel(&work, |(group, diffs)| {
            let set: Vec<(&str, i32, i64, Option<&str>)> = diffs
                .iter()
                .map(|(t, p, _, o)| (t.as_str(), *p, *o, None))
                .collect();
            // Just described as empty, above; a member that joined since is refused by
            // the broker, reported as such.
            let committed = client.alter_described_group_offsets(group, &set, self.timeout);
            // Groups commit concurrently: the first to finish may leave others done or not.
            if committed.is_ok() && work.len() > 1 {
                crate::engine::crash::crash_point("groups.commit:group-committed");
            }
            committed
        });
        let mut committed = Vec::new();
        let mut first_error = None;
        for ((group, diffs), result) in work.iter().zip(results) {
            if let Err(e) = result {
                first_error.get_or_insert(e);
                continue;
            }
            ctx.reporter.status(
                "Committed",
                &format!("group `{group}` on `{cluster}`: {} offset(s)", diffs.len()),
            );
            committed.push(json!({
                "group": group,
                "offsets": diffs.iter().map(|(t, p, c, n)| json!({"topic": t, "partition": p, "from": c, "to": n})).collect::<Vec<_>>(),
            }));
        }
        if let Some(e) = first_error {
            return Err(e.into());
        }
        self.skipped = Some(skipped.clone());
        Ok(json!({
            "cluster": cluster,
            "committed": committed,
            "skipped_active": skipped,
            "clamped": clamps,
        }))
    }

    fn verify(&mut self, ctx: &mut StepContext<'_>, _plan: &Plan) -> Result<Verdict, Error> {
        let (cluster, wanted) = self.wanted(ctx)?;
        if wanted.is_empty() {
            return Ok(Verdict::Done);
        }
        let client = common::kafka_in(ctx, &cluster, self.timeout)?;
        let mut wanted = wanted;
        bound_now(&client, &mut wanted, self.timeout)?;
        let skipped = self.skipped.clone().unwrap_or_default();
        let mut wrong = Vec::new();
        let groups: Vec<(&String, &GroupOffsets)> = wanted
            .iter()
            .filter(|(group, _)| !skipped.contains(*group))
            .collect();
        let read = common::in_parallel(&groups, |(group, _)| {
            client.committed_offsets(group, self.timeout)
        });
        for ((group, offsets), committed) in groups.into_iter().zip(read) {
            let committed: HashMap<(String, i32), i64> = committed?
                .into_iter()
                .map(|(t, p, o, _)| ((t, p), o))
                .collect();
            for ((t, p), o) in offsets {
                let have = committed.get(&(t.clone(), *p));
                if have != Some(o) {
                    wrong.push(format!(
                        "group `{group}` `{t}`[{p}] is at {} on `{cluster}`, not {o}",
                        have.map_or("no committed offset".to_string(), |h| h.to_string())
                    ));
                }
            }
        }
        if wrong.is_empty() {
            Ok(Verdict::Done)
        } else {
            let more = wrong.len().saturating_sub(3);
            let mut reason = wrong.into_iter().take(3).collect::<Vec<_>>().join("; ");
            if more > 0 {
                reason.push_str(&format!(" (and {more} more)"));
            }
            Ok(Verdict::NotDone(reason))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actions::groups_translate::{Translate, TRANSLATE};
    use crate::actions::test_support::step;

    #[test]
    fn params_defaults_and_empty_groups() {
        let t = Translate::new(&step("translate", TRANSLATE, serde_json::Value::Null)).unwrap();
        assert_eq!((t.from.as_str(), t.to.as_str()), ("primary", "backup"));
        assert!(t.groups.is_none());
        let e = Translate::new(&step("translate", TRANSLATE, json!({"groups": []})))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("`groups` is empty") && e.contains("help:"),
            "{e}"
        );
        let c = Commit::new(&step("commit", COMMIT, serde_json::Value::Null)).unwrap();
        assert_eq!(
            (c.cluster.as_str(), c.translate_step.as_str(), c.skip_active),
            ("backup", "translate", false)
        );
        assert!(Commit::new(&step("commit", COMMIT, json!({"skip": true}))).is_err());
    }

    #[test]
    fn differences_and_refusal_text() {
        let mut wanted = BTreeMap::new();
        wanted.insert(("app.t".to_string(), 0), 10);
        wanted.insert(("app.t".to_string(), 1), 20);
        let now = GroupNow {
            members: 2,
            state: "Stable".into(),
            active: true,
            committed: [(("app.t".to_string(), 0), 10)].into_iter().collect(),
        };
        assert_eq!(
            differences(&wanted, Some(&now)),
            vec![("app.t".to_string(), 1, None, 20)]
        );
        assert_eq!(differences(&wanted, None).len(), 2);
        let e = active_refusal("dc2", &[("app.g", &now)]).to_string();
        assert!(
            e.contains("group `app.g` has 2 active member(s) on `dc2`"),
            "{e}"
        );
        assert!(e.contains("help: stop its consumers on `dc2`"), "{e}");
        assert!(e.contains("skip_active"), "{e}");
    }
}
