//! The switchover report: what the operator reads when `kafka-dr switchover` ends.
//!
//! Built from the run's journaled steps (so a resumed run reports the whole switchover,
//! not only what the last invocation did): per partition, the loss and duplicates the
//! `mirror.drain` step counted by content; per group, how many positions were translated
//! exactly (the `groups.exact` step refused anything else before the commit); the write
//! outage, from the start of the `app-writes` fence on the old primary to the end of the
//! `roles.promote` step that lifted the guard on the new one; and the RTO, the run's wall
//! time from its start to its end. It reads the journal only.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use crate::engine::RunReport;
use crate::journal::{Journal, StepRecord};

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PartitionCheck {
    pub topic: String,
    pub partition: i32,
    pub target_topic: String,
    /// Records below the LSO on the old primary (`None`: not counted).
    pub records: Option<i64>,
    pub lost: Option<i64>,
    pub duplicated: Option<i64>,
    /// Why it was not counted.
    pub note: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct GroupCheck {
    pub group: String,
    pub partitions: usize,
    pub exact: usize,
    /// Records the group reads again or never: 0 when every position is exact.
    pub duplicates: i64,
    pub lost: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct SwitchoverReport {
    pub run_id: i64,
    pub dry_run: bool,
    pub old_primary: Option<String>,
    pub new_primary: Option<String>,
    /// From the first attempt of the `app-writes` fence to the end of `roles.promote`.
    pub write_outage_ms: Option<u64>,
    /// The run's wall time, from its start to its end (across resumes).
    pub rto_ms: u64,
    pub partitions: Vec<PartitionCheck>,
    pub groups: Vec<GroupCheck>,
    /// Totals over the partitions counted.
    pub lost: i64,
    pub duplicated: i64,
    pub partitions_counted: usize,
}

/// `2026-12-02T03:00:44.123Z` -> milliseconds since the epoch (the journal's format).
pub fn parse_journal_time(s: &str) -> Option<i64> {
    let s = s.strip_suffix('Z')?;
    let (date, time) = s.split_once('T')?;
    let mut d = date.split('-').map(|x| x.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let mut t = time.split(':');
    let (h, min) = (
        t.next()?.parse::<i64>().ok()?,
        t.next()?.parse::<i64>().ok()?,
    );
    let sec: f64 = t.next()?.parse().ok()?;
    if !(1..=12).contains(&m) || !(1..=31).contains(&day) {
        return None;
    }
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 24 + h) * 60 + min) * 60_000 + (sec * 1000.0).round() as i64)
}

fn step_by_action<'a>(steps: &'a [StepRecord], action: &str) -> Option<&'a StepRecord> {
    steps.iter().find(|s| s.action == action)
}

/// The step that fenced application writes (the first `fence.apply` with `app-writes`).
fn fence_writes_step(steps: &[StepRecord]) -> Option<&StepRecord> {
    steps.iter().find(|s| {
        s.action == "fence.apply"
            && s.plan
                .as_ref()
                .and_then(|p| p.get("detail"))
                .and_then(|d| d.get("fence"))
                .and_then(Value::as_str)
                == Some("app-writes")
    })
}

/// The write outage from the journal's step times (`None` until both ends are known).
pub fn write_outage_ms(steps: &[StepRecord]) -> Option<u64> {
    let fence = fence_writes_step(steps)?;
    let start = fence
        .attempt_log
        .first()
        .map(|a| a.started_at.as_str())
        .or(fence.started_at.as_deref())?;
    let end = step_by_action(steps, "roles.promote")?
        .finished_at
        .as_deref()?;
    let ms = parse_journal_time(end)? - parse_journal_time(start)?;
    u64::try_from(ms).ok()
}

/// Per partition, from the drain step's output.
pub fn partition_checks(drain: &Value) -> Vec<PartitionCheck> {
    drain["partitions"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| PartitionCheck {
            topic: p["topic"].as_str().unwrap_or_default().to_string(),
            partition: i32::try_from(p["partition"].as_i64().unwrap_or(-1)).unwrap_or(-1),
            target_topic: p["target_topic"].as_str().unwrap_or_default().to_string(),
            records: p["counted"]["source_records"].as_i64(),
            lost: p["counted"]["lost"].as_i64(),
            duplicated: p["counted"]["duplicated"].as_i64(),
            note: p["not_counted"].as_str().map(String::from),
        })
        .collect()
}

/// Per group, from the translate step's output.
pub fn group_checks(translate: &Value) -> Vec<GroupCheck> {
    let mut by_group: BTreeMap<String, GroupCheck> = BTreeMap::new();
    for t in translate["positions"].as_array().into_iter().flatten() {
        let group = t["group"].as_str().unwrap_or("?").to_string();
        let g = by_group.entry(group.clone()).or_insert_with(|| GroupCheck {
            group,
            ..Default::default()
        });
        g.partitions += 1;
        if matches!(t["method"].as_str(), Some("sync-point" | "fingerprint")) {
            g.exact += 1;
        }
        g.duplicates += t["worst_case_duplicates"].as_i64().unwrap_or(0);
        g.lost += t["expired_skipped"].as_i64().unwrap_or(0);
    }
    by_group.into_values().collect()
}

impl SwitchoverReport {
    pub fn build(report: &RunReport, journal: &Journal) -> SwitchoverReport {
        let steps = journal.steps(report.run_id).unwrap_or_default();
        let output = |action: &str| -> Value {
            step_by_action(&steps, action)
                .and_then(|s| s.output.clone())
                .unwrap_or(Value::Null)
        };
        let partitions = partition_checks(&output("mirror.drain"));
        let groups = group_checks(&output("groups.translate"));
        // A step verified on resume keeps no output; its plan's detail names the same.
        let promote = match output("roles.promote") {
            Value::Null => step_by_action(&steps, "roles.promote")
                .and_then(|s| s.plan.as_ref())
                .and_then(|p| p.get("detail").cloned())
                .unwrap_or(Value::Null),
            out => out,
        };
        let rto_ms = journal
            .run_summary(report.run_id)
            .ok()
            .and_then(|r| {
                let start = parse_journal_time(&r.started_at)?;
                let end = parse_journal_time(r.finished_at.as_deref()?)?;
                u64::try_from(end - start).ok()
            })
            .filter(|_| !report.dry_run)
            .unwrap_or(report.wall_ms);
        let counted: Vec<&PartitionCheck> =
            partitions.iter().filter(|p| p.records.is_some()).collect();
        SwitchoverReport {
            run_id: report.run_id,
            dry_run: report.dry_run,
            old_primary: promote["new_backup"].as_str().map(String::from),
            new_primary: promote["new_primary"].as_str().map(String::from),
            write_outage_ms: if report.dry_run {
                None
            } else {
                write_outage_ms(&steps)
            },
            rto_ms,
            lost: counted.iter().filter_map(|p| p.lost).sum(),
            duplicated: counted.iter().filter_map(|p| p.duplicated).sum(),
            partitions_counted: counted.len(),
            partitions,
            groups,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn journal_times_parse_to_epoch_milliseconds() {
        assert_eq!(parse_journal_time("1970-01-01T00:00:00.000Z"), Some(0));
        assert_eq!(
            parse_journal_time("2026-12-02T03:00:44.123Z"),
            Some(1_796_180_444_123)
        );
        assert_eq!(
            parse_journal_time("2024-02-29T23:59:59.999Z"),
            Some(1_709_251_199_999)
        );
        assert_eq!(parse_journal_time("2026-13-02T03:00:44.123Z"), None);
        assert_eq!(parse_journal_time("yesterday"), None);
    }

    #[test]
    fn partitions_and_groups_come_from_the_step_outputs() {
        let drain = json!({"partitions": [
            {"topic": "t", "partition": 0, "target_topic": "t",
             "counted": {"source_records": 10, "lost": 0, "duplicated": 0}},
            {"topic": "t", "partition": 1, "target_topic": "t", "not_counted": "too big"}
        ]});
        let p = partition_checks(&drain);
        assert_eq!(p[0].records, Some(10));
        assert_eq!(p[0].lost, Some(0));
        assert_eq!(p[1].records, None);
        assert_eq!(p[1].note.as_deref(), Some("too big"));
        let translate = json!({"positions": [
            {"group": "g", "method": "fingerprint", "worst_case_duplicates": 0},
            {"group": "g", "method": "sync-point", "worst_case_duplicates": 0},
            {"group": "h", "method": "conservative", "worst_case_duplicates": 4}
        ]});
        let g = group_checks(&translate);
        assert_eq!((g[0].partitions, g[0].exact, g[0].duplicates), (2, 2, 0));
        assert_eq!((g[1].exact, g[1].duplicates), (0, 4));
    }
}
