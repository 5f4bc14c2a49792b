//! The failover report: what an incident commander reads when `failover promote` ends.
//!
//! Built from the run's journaled step outputs (no guessing): RTO is the run's wall
//! time; per group, how many partitions were translated exactly and the worst-case
//! duplicates (from the `groups.translate` step); RPO is the records on the primary past
//! the cut when the primary answered (its snapshot's log ends minus the next offsets MM2
//! would have copied), otherwise the lag last recorded by `deltas record`, with its age.
//! The only network call is one read of the forward source connector's offsets.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use crate::engine::RunReport;
use crate::journal::Journal;
use crate::topology::Topology;

#[derive(Debug, Clone, Serialize)]
pub struct StepTiming {
    pub step: String,
    pub action: String,
    pub outcome: String,
    pub duration_ms: u64,
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct GroupSummary {
    pub group: String,
    pub partitions: usize,
    /// Positions whose offset is proven right (an exact method on a live position).
    pub exact: usize,
    /// Positions translated exactly as they were recorded, but recorded before the
    /// disaster: the group may have consumed on since (counted in `conservative` too, and
    /// in the duplicates).
    pub exact_when_recorded: usize,
    pub conservative: usize,
    /// Sum over partitions of the worst-case re-delivered records (None if unbounded).
    pub worst_case_duplicates: Option<i64>,
    /// What MM2's own translation would have re-delivered, where known.
    pub mm2_would_redeliver: Option<i64>,
    /// Records the group had not consumed that expired on the backup before it resumed
    /// there (below its log start, at translate or at commit time): it will never see
    /// them. At most this many; at least `expired_skipped_at_least`.
    pub expired_skipped: i64,
    pub expired_skipped_at_least: i64,
    /// Per partition, what was skipped and why.
    pub expired_notes: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Rpo {
    /// Records written on the primary that never reached the backup (None: unknown).
    pub records: Option<i64>,
    /// `primary-snapshot` (measured now) or `recorded-lag` (last `deltas record`).
    pub source: String,
    /// For `recorded-lag`: when it was recorded.
    pub recorded_at: Option<String>,
    pub note: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct FailoverReport {
    pub run_id: i64,
    pub dry_run: bool,
    /// Wall time of the run, in milliseconds.
    pub rto_ms: u64,
    pub steps: Vec<StepTiming>,
    pub groups: Vec<GroupSummary>,
    pub rpo: Rpo,
    /// Where recorded positions came from when this host's journal lacked them: the
    /// `deltas.import` step's output (`{topic, cluster, positions, offset_syncs,
    /// newest_recorded_at, last_pass_at}`); `None` when nothing was imported.
    pub imported_deltas: Option<Value>,
}

fn output_of<'a>(report: &'a RunReport, action: &str) -> Option<&'a Value> {
    report
        .steps
        .iter()
        .find(|s| s.action == action)
        .and_then(|s| s.output.as_ref())
}

impl FailoverReport {
    pub fn build(
        report: &RunReport,
        journal: &Journal,
        topology: &Topology,
        primary: &str,
        rt: &tokio::runtime::Handle,
    ) -> FailoverReport {
        let steps = report
            .steps
            .iter()
            .map(|s| StepTiming {
                step: s.id.clone(),
                action: s.action.clone(),
                outcome: s.outcome.as_str().to_string(),
                duration_ms: s.duration_ms,
            })
            .collect();
        let mut groups = output_of(report, "groups.translate")
            .map(group_summaries)
            .unwrap_or_default();
        if let Some(out) = output_of(report, "groups.commit") {
            add_commit_clamps(&mut groups, out);
        }
        let rpo = measured_rpo(report, journal, topology, primary, rt)
            .unwrap_or_else(|| recorded_rpo(journal));
        FailoverReport {
            run_id: report.run_id,
            dry_run: report.dry_run,
            rto_ms: report.wall_ms,
            steps,
            groups,
            rpo,
            imported_deltas: output_of(report, "deltas.import")
                .filter(|o| {
                    o["positions"].as_u64().unwrap_or(0) + o["offset_syncs"].as_u64().unwrap_or(0)
                        > 0
                })
                .cloned(),
        }
    }
}

/// Per group, from the translate step's output (`actions::groups_translate::TranslationReport`):
/// `{"positions": [{group, method, worst_case_duplicates, mm2_checkpoint: {redelivered},
/// mm2_rule_redelivered, ...}]}`.
fn group_summaries(out: &Value) -> Vec<GroupSummary> {
    let mut by_group: BTreeMap<String, GroupSummary> = BTreeMap::new();
    for t in out["positions"].as_array().into_iter().flatten() {
        let group = t["group"].as_str().unwrap_or("?").to_string();
        let g = by_group
            .entry(group.clone())
            .or_insert_with(|| GroupSummary {
                group,
                worst_case_duplicates: Some(0),
                ..Default::default()
            });
        g.partitions += 1;
        let exact_method = matches!(t["method"].as_str(), Some("sync-point" | "fingerprint"));
        // "exact" means proven: a translation kept by an older kafka-dr has no `exact`
        // field, and is exact only if it was read live.
        let exact = t["exact"]
            .as_bool()
            .unwrap_or(exact_method && t["position_source"].as_str() == Some("live"));
        if exact {
            g.exact += 1;
        } else {
            g.conservative += 1;
            if exact_method {
                g.exact_when_recorded += 1;
            }
        }
        g.worst_case_duplicates =
            match (g.worst_case_duplicates, t["worst_case_duplicates"].as_i64()) {
                (Some(a), Some(b)) => Some(a + b),
                _ => None,
            };
        // MM2's own checkpoint where the backup has one, else MM2's rule on our syncs.
        let mm2 = t["mm2_checkpoint"]["redelivered"]
            .as_i64()
            .or_else(|| t["mm2_rule_redelivered"].as_i64());
        if let Some(m) = mm2 {
            *g.mm2_would_redeliver.get_or_insert(0) += m;
        }
        let expired = t["expired_skipped"].as_i64().unwrap_or(0);
        if expired > 0 {
            let at_least = t["expired_skipped_at_least"].as_i64().unwrap_or(0);
            g.expired_skipped += expired;
            g.expired_skipped_at_least += at_least;
            let count = if at_least >= expired {
                expired.to_string()
            } else {
                format!("at most {expired} (at least {at_least})")
            };
            g.expired_notes.push(format!(
                "`{}`[{}]: {count} record(s) skipped: they expired on `{}` (its log start {} is past the group's translated position {}); the group starts at the log start",
                t["target_topic"].as_str().unwrap_or("?"),
                t["partition"].as_i64().unwrap_or(-1),
                out["to"].as_str().unwrap_or("the backup"),
                t["backup_log_start"].as_i64().unwrap_or(-1),
                t["clamped_from"].as_i64().unwrap_or(-1),
            ));
        }
    }
    by_group.into_values().collect()
}

/// Offsets `groups.commit` moved to the backup's log start (it moved after the
/// translation): `{"cluster": c, "clamped": [{group, topic, partition, from, to,
/// expired_skipped}]}`. Counted as at most (the translation may not have been exact).
fn add_commit_clamps(groups: &mut [GroupSummary], out: &Value) {
    for c in out["clamped"].as_array().into_iter().flatten() {
        let expired = c["expired_skipped"].as_i64().unwrap_or(0);
        if expired <= 0 {
            continue;
        }
        let Some(g) = groups
            .iter_mut()
            .find(|g| Some(g.group.as_str()) == c["group"].as_str())
        else {
            continue;
        };
        g.expired_skipped += expired;
        g.expired_notes.push(format!(
            "`{}`[{}]: {expired} more record(s) skipped at commit: they expired on `{}` after the translation (offset {} -> log start {})",
            c["topic"].as_str().unwrap_or("?"),
            c["partition"].as_i64().unwrap_or(-1),
            out["cluster"].as_str().unwrap_or("the backup"),
            c["from"].as_i64().unwrap_or(-1),
            c["to"].as_i64().unwrap_or(-1),
        ));
    }
}

/// The primary answered the snapshot: records past the cut = its log ends minus the next
/// offsets MM2 would have copied (the forward source connector's offsets).
fn measured_rpo(
    report: &RunReport,
    journal: &Journal,
    topology: &Topology,
    primary: &str,
    rt: &tokio::runtime::Handle,
) -> Option<Rpo> {
    let snapshot = journal.run_watermarks(report.run_id, primary).ok()??;
    let r = &topology.replication;
    let backup = if r.primary == primary {
        &r.backup
    } else {
        &r.primary
    };
    let endpoint = topology.connect_endpoint(backup).ok()??;
    let client =
        crate::connect::ConnectClient::from_endpoint(backup, &endpoint, Duration::from_secs(5))
            .ok()?;
    let offsets = rt
        .block_on(client.get_mirror_source_offsets(&r.forward_connectors.source))
        .ok()?;
    let next: BTreeMap<(String, i32), i64> = offsets
        .iter()
        .filter_map(|o| {
            o.next_offset_to_copy()
                .map(|n| ((o.topic.clone(), o.partition), n))
        })
        .collect();
    let mut total = 0;
    for p in &snapshot.partitions {
        let copied_to = next
            .get(&(p.topic.clone(), p.partition))
            .copied()
            .unwrap_or(p.earliest);
        total += (p.latest - copied_to).max(0);
    }
    Some(Rpo {
        records: Some(total),
        source: "primary-snapshot".into(),
        recorded_at: Some(snapshot.taken_at.clone()),
        note: format!(
            "{total} record(s) on `{primary}` past the cut never reached the backup; failback keeps them in quarantine"
        ),
    })
}

/// The primary did not answer: the lag last recorded by `deltas record`.
fn recorded_rpo(journal: &Journal) -> Rpo {
    let found = journal.find_output_of_action("deltas.record", |out, finished_at| {
        let lag = out["total_lag"].as_i64()?;
        Some(Rpo {
            records: Some(lag),
            source: "recorded-lag".into(),
            recorded_at: finished_at.map(str::to_string),
            note: format!(
                "the primary did not answer; `deltas record` measured a lag of {lag} record(s) at {}",
                finished_at.unwrap_or_default()
            ),
        })
    });
    if let Ok(Some(rpo)) = found {
        return rpo;
    }
    Rpo {
        records: None,
        source: "unknown".into(),
        recorded_at: None,
        note:
            "the primary did not answer and no `deltas record` lag is in the journal: RPO unknown"
                .into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn expired_records_are_counted_per_group_at_translate_and_at_commit() {
        let translate = json!({"to": "dc2", "positions": [
            {"group": "g", "method": "sync-point", "worst_case_duplicates": 0, "target_topic": "t",
             "partition": 0, "backup_log_start": 300, "clamped_from": 140,
             "expired_skipped": 160, "expired_skipped_at_least": 160},
            {"group": "g", "method": "conservative", "worst_case_duplicates": 3, "target_topic": "t",
             "partition": 1, "expired_skipped": 0},
            {"group": "h", "method": "fingerprint", "worst_case_duplicates": 0, "target_topic": "t",
             "partition": 0, "position_source": "live"}
        ]});
        let mut groups = group_summaries(&translate);
        assert_eq!(groups[0].group, "g");
        assert_eq!(
            (
                groups[0].expired_skipped,
                groups[0].expired_skipped_at_least
            ),
            (160, 160)
        );
        assert!(
            groups[0].expired_notes[0].contains("160 record(s) skipped: they expired on `dc2` (its log start 300 is past the group's translated position 140)"),
            "{:?}",
            groups[0].expired_notes
        );
        assert_eq!(groups[1].expired_skipped, 0);
        add_commit_clamps(
            &mut groups,
            &json!({"cluster": "dc2", "clamped": [
                {"group": "h", "topic": "t", "partition": 0, "from": 10, "to": 15, "expired_skipped": 5}
            ]}),
        );
        assert_eq!(
            (
                groups[1].expired_skipped,
                groups[1].expired_skipped_at_least
            ),
            (5, 0)
        );
        assert!(groups[1].expired_notes[0].contains("5 more record(s) skipped at commit"));
    }

    /// Issue 9, case 10: a position translated exactly from the journal is exact only as
    /// recorded; it is not counted as exact, and its duplicates are what it says.
    #[test]
    fn exact_means_proven() {
        let translate = json!({"to": "dc2", "positions": [
            {"group": "g", "method": "fingerprint", "exact": false, "position_source": "journal",
             "worst_case_duplicates": 363, "since_recording_at_most": 363},
            {"group": "g", "method": "sync-point", "exact": true, "position_source": "live",
             "worst_case_duplicates": 0},
            // Kept by an older kafka-dr (no `exact`): a journal position is not exact.
            {"group": "h", "method": "fingerprint", "position_source": "journal",
             "worst_case_duplicates": 0}
        ]});
        let groups = group_summaries(&translate);
        assert_eq!(
            (
                groups[0].exact,
                groups[0].exact_when_recorded,
                groups[0].conservative
            ),
            (1, 1, 1)
        );
        assert_eq!(groups[0].worst_case_duplicates, Some(363));
        assert_eq!((groups[1].exact, groups[1].exact_when_recorded), (0, 1));
    }
}
