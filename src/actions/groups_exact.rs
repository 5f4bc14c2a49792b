//! `groups.exact`: refuse, before anything is committed, any group position of a
//! `groups.translate` step that was not translated exactly (issue 13, step 5).
//!
//! In a switchover the mirror has copied everything and the groups are idle, so the twin
//! of every group's last consumed record exists on the target and every position
//! translates exactly (a sync point, or the twin found by fingerprint). A position that
//! did not (MM2's conservative rule, an ambiguous twin, a checkpoint, the log start) would
//! make the group read records again or skip some: the run stops here, naming each one,
//! and the `groups.commit` step after this one never runs. A group that consumed nothing
//! on a partition whose logs both start at offset 0 starts at 0 on the target too: exact.
//!
//! It reads the translate step's output from the journal (or its plan under `--dry-run`)
//! and talks to no cluster.

use serde::Deserialize;
use serde_json::json;

use super::groups_translate::{PositionSource, TranslatedPosition, TranslationReport, TRANSLATE};
use super::switchover_support::SwitchoverError;
use super::translation::Method;
use crate::engine::{Action, Plan, StepContext, Verdict};
use crate::error::Error;
use crate::runbook::StepDef;

pub const NAME: &str = "groups.exact";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    translate_step: String,
}

/// `groups.exact`.
#[derive(Debug)]
pub struct Exact {
    translate_step: String,
}

/// Why `p` is not exact (`None`: it is).
pub fn inexact_reason(p: &TranslatedPosition) -> Option<String> {
    let exact = p.method.is_exact()
        || (p.method == Method::NothingConsumed
            && p.primary_position == 0
            && p.backup_log_start == 0
            && p.backup_offset == 0);
    let live = p.position_source == PositionSource::Live;
    if exact && live && p.expired_skipped == 0 && p.clamped_from.is_none() {
        return None;
    }
    let why = if exact && !live {
        // Translated exactly, but from a recorded position, not one read live: the group
        // may have consumed on since (issue 9, case 10).
        format!(
            "its position was not read live from the primary (it comes from {:?}); the group may have consumed after it was recorded",
            p.position_source
        )
    } else if !exact {
        match p.method {
            Method::Conservative => format!(
                "no copy of its last consumed record (offset {}) was found; MM2's rule would give {} and re-deliver up to {} record(s)",
                p.primary_position - 1,
                p.backup_offset,
                p.worst_case_duplicates
                    .map(|d| d.to_string())
                    .unwrap_or_else(|| "an unknown number of".into())
            ),
            Method::Ambiguous => "several records on the target match its last consumed record and the ones before it".into(),
            Method::Checkpoint => "only an MM2 checkpoint gives its position".into(),
            Method::LogStart => "no offset sync at or below its position".into(),
            Method::NothingConsumed => format!(
                "it consumed nothing, and a log does not start at 0 (target log start {})",
                p.backup_log_start
            ),
            Method::NewIncarnation => "its position was recorded for an older incarnation of the topic (deleted and created again since)".into(),
            Method::SyncPoint | Method::Fingerprint => String::new(),
        }
    } else if p.expired_skipped > 0 {
        format!(
            "{} record(s) it has not consumed expired on the target",
            p.expired_skipped
        )
    } else {
        format!(
            "the translated offset {} lies outside the target's log and was moved to {}",
            p.clamped_from.unwrap_or_default(),
            p.backup_offset
        )
    };
    Some(format!(
        "group `{}` `{}`[{}] at position {} (method {}): {why}",
        p.group,
        p.topic,
        p.partition,
        p.primary_position,
        serde_json::to_value(p.method)
            .ok()
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_default()
    ))
}

impl Exact {
    pub fn new(step: &StepDef) -> Result<Exact, Error> {
        let p: Params = super::params(step, NAME)?;
        Ok(Exact {
            translate_step: p.translate_step,
        })
    }

    /// The translation the run's translate step stored.
    fn translation(&self, ctx: &StepContext<'_>) -> Result<TranslationReport, Error> {
        let steps = ctx.journal.steps(ctx.run_id)?;
        let Some(step) = steps.iter().find(|s| s.step_id == self.translate_step) else {
            return Err(Error::Usage(format!(
                "step `{}` ({NAME}): run {} has no step `{}`\nhelp: set `translate_step` to the id of the run's `{TRANSLATE}` step",
                ctx.step_id, ctx.run_id, self.translate_step
            )));
        };
        let value = match (&step.output, &step.plan) {
            (Some(out), _) => out.clone(),
            (None, Some(plan)) if ctx.dry_run => plan.get("detail").cloned().unwrap_or_default(),
            _ => {
                return Err(Error::Usage(format!(
                    "step `{}` ({NAME}): step `{}` has stored no translation in run {} yet\nhelp: put the `{TRANSLATE}` step before this one in the runbook",
                    ctx.step_id, self.translate_step, ctx.run_id
                )))
            }
        };
        serde_json::from_value(value).map_err(|e| {
            Error::Usage(format!(
                "step `{}` ({NAME}): cannot read the translation stored by step `{}` in run {}: {e}",
                ctx.step_id, self.translate_step, ctx.run_id
            ))
        })
    }

    fn judge(&self, ctx: &StepContext<'_>) -> Result<TranslationReport, Error> {
        let report = self.translation(ctx)?;
        let inexact: Vec<String> = report.positions.iter().filter_map(inexact_reason).collect();
        if !inexact.is_empty() {
            return Err(SwitchoverError::Inexact {
                from: report.from.clone(),
                to: report.to.clone(),
                positions: inexact,
                help: format!(
                    "in a switchover every position should translate exactly once the mirror is drained and the groups are idle: check that nothing else writes into `{}` (its `app-writes` guard) and that the groups did not consume past the fence; the run stopped before any commit, so `kafka-dr resume` re-checks after you fixed it, or lift the fence on `{}` to give up",
                    report.to, report.from
                ),
            }
            .into());
        }
        Ok(report)
    }
}

impl Action for Exact {
    fn name(&self) -> &'static str {
        NAME
    }

    fn plan(&mut self, ctx: &mut StepContext<'_>) -> Result<Plan, Error> {
        let report = self.judge(ctx)?;
        let mut plan = Plan::default();
        plan.notes.push(format!(
            "all {} position(s) of {} group(s) translate exactly from `{}` to `{}`: none is read twice or skipped",
            report.positions.len(),
            report.groups().len(),
            report.from,
            report.to
        ));
        plan.detail = json!({
            "from": report.from,
            "to": report.to,
            "positions": report.positions.len(),
            "groups": report.groups().len(),
        });
        Ok(plan)
    }

    fn apply(
        &mut self,
        _ctx: &mut StepContext<'_>,
        plan: &Plan,
    ) -> Result<serde_json::Value, Error> {
        Ok(plan.detail.clone())
    }

    fn verify(&mut self, ctx: &mut StepContext<'_>, _plan: &Plan) -> Result<Verdict, Error> {
        self.judge(ctx)?;
        Ok(Verdict::Done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn position(method: Method) -> TranslatedPosition {
        TranslatedPosition {
            group: "app.g".into(),
            topic: "app.t".into(),
            partition: 2,
            target_topic: "app.t".into(),
            primary_position: 40,
            position_source: PositionSource::Live,
            recorded_at: None,
            backup_offset: 38,
            method,
            worst_case_duplicates: Some(0),
            lower_sync: None,
            upper_sync: None,
            mm2_checkpoint: None,
            mm2_rule_offset: None,
            mm2_rule_redelivered: None,
            note: None,
            backup_log_start: 0,
            clamped_from: None,
            expired_skipped: 0,
            expired_skipped_at_least: 0,
            exact: method.is_exact(),
            since_recording_at_most: None,
        }
    }

    #[test]
    fn exact_methods_pass_and_every_other_is_named() {
        assert_eq!(inexact_reason(&position(Method::Fingerprint)), None);
        assert_eq!(inexact_reason(&position(Method::SyncPoint)), None);
        for m in [
            Method::Conservative,
            Method::Ambiguous,
            Method::Checkpoint,
            Method::LogStart,
            Method::NothingConsumed,
        ] {
            let why = inexact_reason(&position(m)).unwrap_or_else(|| panic!("{m:?} passed"));
            assert!(
                why.starts_with("group `app.g` `app.t`[2] at position 40"),
                "{why}"
            );
        }
    }

    #[test]
    fn nothing_consumed_from_offset_zero_is_exact() {
        let mut p = position(Method::NothingConsumed);
        p.primary_position = 0;
        p.backup_offset = 0;
        assert_eq!(inexact_reason(&p), None);
        p.backup_log_start = 5;
        p.backup_offset = 5;
        assert!(inexact_reason(&p).is_some());
    }

    #[test]
    fn an_exact_position_that_was_clamped_is_refused() {
        let mut p = position(Method::Fingerprint);
        p.expired_skipped = 3;
        let why = inexact_reason(&p).expect("clamped");
        assert!(
            why.contains("3 record(s) it has not consumed expired"),
            "{why}"
        );
    }
}
