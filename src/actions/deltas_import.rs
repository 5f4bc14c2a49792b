//! `deltas.import`: before a failover translates the groups, read the backup DC's copy of
//! the recorded deltas (`actions::deltas_topic`, written by every `deltas record` pass to
//! `replication.deltas_topic` on the backup) into this host's journal, so that a fresh
//! host in the backup DC with only the topology file translates from the same recorded
//! positions and offset syncs as the recorder's host. Parameters: `from` (the cluster the
//! positions were recorded on, default `primary`), `to` (where the copy lives, default
//! `backup`), `timeout_seconds`.
//!
//! Only what the journal lacks is imported: syncs it does not hold (in the copy's
//! recording order), and positions recorded later than the journal's newest of the same
//! group and partition (with the time they were recorded, so their age is judged
//! right); topic ids come along when a position does; and the `app-writes` guard on the
//! backup when this journal holds none (so `roles.promote` lifts what the recorder's
//! host applied). Running it twice imports nothing
//! the second time. It reads the backup and writes only journal rows; a missing topic is
//! a note (nothing was ever copied there), not a failure.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use serde::Deserialize;
use serde_json::json;

use super::common;
use super::deltas_topic::{self, Stored};
use crate::engine::{Action, Plan, StepContext, Verdict};
use crate::error::Error;
use crate::journal::{GroupPositionRow, Journal, OffsetSyncRow};
use crate::runbook::StepDef;
use crate::topology::Replication;

pub const NAME: &str = "deltas.import";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    from: String,
    to: String,
    timeout_seconds: u64,
}

/// What the copy holds that the journal does not.
#[derive(Debug, Default, Clone)]
struct ToImport {
    syncs: Vec<OffsetSyncRow>,
    positions: Vec<GroupPositionRow>,
    ids: Vec<(String, Vec<(String, String)>)>,
    /// The newest recording time among the positions imported.
    newest: Option<String>,
    /// The copy's last pass of the flow: when, and the lag it saw.
    pass: Option<(String, i64)>,
    /// The `app-writes` guard on the backup, as the recorder's journal holds it, when
    /// this journal holds none: so the promotion lifts it.
    guard: Option<serde_json::Value>,
    skipped: usize,
}

#[derive(Debug)]
pub struct Import {
    from: String,
    to: String,
    timeout: Duration,
    /// What the last apply imported, for verify.
    imported: Option<ToImport>,
    /// The diff the plan just made, for the apply that follows it: the engine always
    /// plans right before it applies, and reading the copy and the journal again would
    /// double the step (seconds at thousands of partitions).
    planned: Option<Diff>,
}

/// `(from, to, what to import)`; `None`: the copy's topic does not exist.
type Diff = (String, String, Option<ToImport>);

impl Import {
    pub fn new(step: &StepDef) -> Result<Import, Error> {
        let p: Params = super::params(step, NAME)?;
        Ok(Import {
            from: p.from,
            to: p.to,
            timeout: Duration::from_secs(p.timeout_seconds.max(1)),
            imported: None,
            planned: None,
        })
    }

    /// Read the copy and diff it with the journal. `Ok(None)`: the topic does not exist.
    fn diff(&self, ctx: &StepContext<'_>) -> Result<Diff, Error> {
        let from = common::resolve_cluster(ctx, &self.from)?;
        let to = common::resolve_cluster(ctx, &self.to)?;
        let topic = &ctx.topology.replication.deltas_topic;
        let client = common::kafka_in(ctx, &to, self.timeout)?;
        // Kafka's errors name the cluster and the topic.
        let stored = deltas_topic::read_all(&client, topic, self.timeout)?;
        Ok(match stored {
            Some(s) => {
                let diff = to_import(ctx.journal, &ctx.topology.replication, &from, &to, s)?;
                (from, to, Some(diff))
            }
            None => (from, to, None),
        })
    }
}

/// What of `stored` (the flow `from -> to`) the journal lacks.
/// A sync as the journal tells syncs apart: both offsets and both topic ids.
type SyncIdentity = (i64, i64, Option<String>, Option<String>);

/// Only the topology's scope is imported: the copy may be shared with other
/// topologies (other topics and groups mirrored between the same clusters).
fn to_import(
    journal: &Journal,
    scope: &Replication,
    from: &str,
    to: &str,
    stored: Stored,
) -> Result<ToImport, Error> {
    let mut out = ToImport {
        skipped: stored.skipped,
        pass: stored
            .passes
            .get(&(from.to_string(), to.to_string()))
            .map(|p| (p.recorded_at.clone(), p.total_lag)),
        ..Default::default()
    };
    // The journal's syncs of the flow, read once (not once per partition).
    let mut held: HashSet<((String, i32), SyncIdentity)> = journal
        .offset_syncs_of_flow(from, to)?
        .into_iter()
        .flat_map(|(key, rows)| {
            rows.into_iter().map(move |r| {
                (
                    key.clone(),
                    (
                        r.upstream_offset,
                        r.downstream_offset,
                        r.source_topic_id,
                        r.target_topic_id,
                    ),
                )
            })
        })
        .collect();
    for s in stored.syncs {
        if s.source_cluster != from || s.target_cluster != to || !scope.topics.matches(&s.topic) {
            continue;
        }
        let id = (
            s.upstream_offset,
            s.downstream_offset,
            s.source_topic_id.clone(),
            s.target_topic_id.clone(),
        );
        if held.insert(((s.topic.clone(), s.partition), id)) {
            out.syncs.push(s);
        }
    }
    // Offsets and times only: the fingerprints are not compared.
    let latest: BTreeMap<(String, String, i32), Option<String>> = journal
        .latest_group_marks(from)?
        .into_iter()
        .map(|r| ((r.group, r.topic, r.partition), r.recorded_at))
        .collect();
    for p in stored.positions {
        if p.cluster != from || !scope.topics.matches(&p.topic) || !scope.groups.matches(&p.group) {
            continue;
        }
        let newer = match latest.get(&(p.group.clone(), p.topic.clone(), p.partition)) {
            None => true,
            // Both are the journal's own UTC format: they compare as strings.
            Some(have) => p.recorded_at > *have,
        };
        if newer {
            if p.recorded_at > out.newest {
                out.newest = p.recorded_at.clone();
            }
            out.positions.push(p);
        }
    }
    if journal
        .active_fences(Some(to))?
        .iter()
        .all(|f| f.name != crate::actions::fence::Fence::AppWrites.name())
    {
        out.guard = stored.guards.get(to).cloned();
    }
    if !out.positions.is_empty() {
        for cluster in [from, to] {
            if let Some(ids) = stored.ids.get(cluster) {
                out.ids.push((
                    cluster.to_string(),
                    ids.iter().map(|(t, i)| (t.clone(), i.clone())).collect(),
                ));
            }
        }
    }
    Ok(out)
}

impl Action for Import {
    fn name(&self) -> &'static str {
        NAME
    }

    fn plan(&mut self, ctx: &mut StepContext<'_>) -> Result<Plan, Error> {
        let topic = ctx.topology.replication.deltas_topic.clone();
        let (from, to, diff) = self.diff(ctx)?;
        self.planned = Some((from.clone(), to.clone(), diff.clone()));
        let mut plan = Plan::default();
        plan.notes.push(format!(
            "changes nothing on any cluster; reads the backup DC's copy of the deltas `{topic}` on `{to}`"
        ));
        let Some(d) = diff else {
            plan.notes.push(format!(
                "no topic `{topic}` on `{to}`: no `deltas record` pass copied anything there; positions come from this journal and MM2's checkpoints"
            ));
            plan.detail = json!({ "topic": topic, "cluster": to, "exists": false });
            return Ok(plan);
        };
        if d.guard.is_some() {
            plan.changes.push(format!(
                "journal: record the `app-writes` guard on `{to}` as the recorder's journal holds it (so the promotion lifts it)"
            ));
        }
        if !d.syncs.is_empty() || !d.positions.is_empty() {
            plan.changes.push(format!(
                "journal: import {} group position(s) of `{from}` (newest recorded {}) and {} offset sync(s) of `{from}` -> `{to}` from `{topic}` on `{to}`",
                d.positions.len(),
                d.newest.as_deref().unwrap_or("-"),
                d.syncs.len()
            ));
        } else {
            plan.notes.push(format!(
                "the journal already holds everything `{topic}` on `{to}` holds of `{from}` -> `{to}`"
            ));
        }
        if let Some((at, lag)) = &d.pass {
            plan.notes.push(format!(
                "the recorder's last pass of `{from}` -> `{to}` was at {at}, replication lag then {lag} record(s)"
            ));
        }
        if d.skipped > 0 {
            plan.notes.push(format!(
                "{} record(s) of `{topic}` skipped: another format version or undecodable (a newer kafka-dr wrote them?)",
                d.skipped
            ));
        }
        plan.detail = json!({
            "topic": topic,
            "cluster": to,
            "exists": true,
            "positions": d.positions.len(),
            "offset_syncs": d.syncs.len(),
            "newest_recorded_at": d.newest,
            "last_pass_at": d.pass.as_ref().map(|p| p.0.clone()),
        });
        Ok(plan)
    }

    fn apply(
        &mut self,
        ctx: &mut StepContext<'_>,
        _plan: &Plan,
    ) -> Result<serde_json::Value, Error> {
        let topic = ctx.topology.replication.deltas_topic.clone();
        let (from, to, diff) = match self.planned.take() {
            Some(planned) => planned,
            None => self.diff(ctx)?,
        };
        let Some(d) = diff else {
            self.imported = Some(ToImport::default());
            return Ok(
                json!({ "topic": topic, "cluster": to, "exists": false, "positions": 0, "offset_syncs": 0 }),
            );
        };
        ctx.journal.record_offset_syncs(&d.syncs)?;
        ctx.journal.import_group_positions(&d.positions)?;
        for (cluster, ids) in &d.ids {
            ctx.journal.record_topic_ids(cluster, ids)?;
        }
        if let Some(bindings) = &d.guard {
            ctx.journal.record_fence(
                ctx.run_id,
                &to,
                crate::actions::fence::Fence::AppWrites.name(),
                bindings,
            )?;
        }
        if !d.positions.is_empty() || !d.syncs.is_empty() {
            ctx.reporter.status(
                "Imported",
                &format!(
                    "{} group position(s) of `{from}` (newest recorded {}) and {} offset sync(s) from the backup DC's copy `{topic}` on `{to}`",
                    d.positions.len(),
                    d.newest.as_deref().unwrap_or("-"),
                    d.syncs.len()
                ),
            );
        }
        let out = json!({
            "topic": topic,
            "cluster": to,
            "exists": true,
            "positions": d.positions.len(),
            "offset_syncs": d.syncs.len(),
            "newest_recorded_at": d.newest,
            "last_pass_at": d.pass.as_ref().map(|p| p.0.clone()),
            "last_pass_lag": d.pass.as_ref().map(|p| p.1),
        });
        self.imported = Some(d);
        Ok(out)
    }

    fn verify(&mut self, ctx: &mut StepContext<'_>, _plan: &Plan) -> Result<Verdict, Error> {
        let Some(d) = &self.imported else {
            // Not applied in this attempt (a plan with nothing to import, or a resume):
            // done when the copy holds nothing the journal lacks.
            let (_, _, diff) = self.diff(ctx)?;
            return Ok(match diff {
                Some(d) if !d.positions.is_empty() || !d.syncs.is_empty() || d.guard.is_some() => Verdict::NotDone(format!(
                    "the journal lacks {} position(s) and {} offset sync(s) of the backup DC's copy (the step is applied again: it imports only what the journal lacks)",
                    d.positions.len(),
                    d.syncs.len()
                )),
                _ => Verdict::Done,
            });
        };
        let from = common::resolve_cluster(ctx, &self.from)?;
        let latest: BTreeMap<(String, String, i32), Option<String>> = ctx
            .journal
            .latest_group_marks(&from)?
            .into_iter()
            .map(|r| ((r.group, r.topic, r.partition), r.recorded_at))
            .collect();
        for p in &d.positions {
            let held = latest
                .get(&(p.group.clone(), p.topic.clone(), p.partition))
                .is_some_and(|at| *at >= p.recorded_at);
            if !held {
                return Ok(Verdict::NotDone(format!(
                    "the journal does not hold the imported position {} of group `{}` on `{}` partition {}",
                    p.committed_offset, p.group, p.topic, p.partition
                )));
            }
        }
        Ok(Verdict::Done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actions::test_support::Fixture;

    fn pos(group: &str, committed: i64, at: &str) -> GroupPositionRow {
        GroupPositionRow {
            cluster: "dc1".into(),
            group: group.into(),
            topic: "app.t".into(),
            partition: 0,
            committed_offset: committed,
            fingerprint: None,
            recorded_at: Some(at.into()),
            topic_id: Some("T".into()),
        }
    }

    fn sync(u: i64, d: i64) -> OffsetSyncRow {
        OffsetSyncRow {
            source_cluster: "dc1".into(),
            target_cluster: "dc2".into(),
            topic: "app.t".into(),
            partition: 0,
            upstream_offset: u,
            downstream_offset: d,
            recorded_at: None,
            source_topic_id: None,
            target_topic_id: None,
        }
    }

    #[test]
    fn only_what_the_journal_lacks_is_imported_and_twice_imports_nothing() {
        let f = Fixture::new();
        f.journal
            .import_group_positions(&[pos("app.a", 5, "2026-01-01T00:00:05.000Z")])
            .unwrap();
        f.journal.record_offset_syncs(&[sync(10, 10)]).unwrap();
        let stored = || Stored {
            syncs: vec![sync(10, 10), sync(20, 19), sync(10, 10)],
            positions: vec![
                // Older than the journal's: kept out.
                pos("app.a", 4, "2026-01-01T00:00:01.000Z"),
                pos("app.b", 7, "2026-01-01T00:00:07.000Z"),
                GroupPositionRow {
                    cluster: "dc9".into(),
                    ..pos("app.c", 1, "2026-01-01T00:00:09.000Z")
                },
                // Out of the topology's scope.
                pos("other.d", 1, "2026-01-01T00:00:09.000Z"),
            ],
            ..Default::default()
        };
        let d = to_import(&f.journal, &f.topology.replication, "dc1", "dc2", stored()).unwrap();
        assert_eq!(d.syncs.len(), 1, "{:?}", d.syncs);
        assert_eq!(d.syncs[0].upstream_offset, 20);
        assert_eq!(d.positions.len(), 1);
        assert_eq!(d.positions[0].group, "app.b");
        assert_eq!(d.newest.as_deref(), Some("2026-01-01T00:00:07.000Z"));
        f.journal.record_offset_syncs(&d.syncs).unwrap();
        f.journal.import_group_positions(&d.positions).unwrap();
        let latest = f
            .journal
            .latest_group_positions("dc1", Some("app.b"))
            .unwrap();
        assert_eq!(
            latest[0].recorded_at.as_deref(),
            Some("2026-01-01T00:00:07.000Z"),
            "the recording time is kept"
        );
        let again = to_import(&f.journal, &f.topology.replication, "dc1", "dc2", stored()).unwrap();
        assert!(again.syncs.is_empty() && again.positions.is_empty());
    }
}
