//! `roles.promote`: the role change at the end of a failover. The backup (as of the
//! run's start) becomes the primary and the old primary becomes the backup, recorded in
//! the journal; from then on `primary`/`backup` in new runs mean the swapped clusters.
//! Before recording, it lifts the `app-writes` guard that kept applications off the
//! backup (when `lift_guard`, the default), so applications can write to the new primary.
//!
//! Idempotent: when the roles are already swapped and the guard is lifted, the plan is
//! empty. It writes to a cluster only through the guard's ACL bindings.

use serde::Deserialize;
use serde_json::json;

use super::common;
use crate::engine::{Action, Plan, StepContext, Verdict};
use crate::error::Error;
use crate::journal::Role;
use crate::runbook::StepDef;

pub const NAME: &str = "roles.promote";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    lift_guard: bool,
    timeout_seconds: u64,
}

#[derive(Debug)]
pub struct Promote {
    lift_guard: bool,
    timeout: std::time::Duration,
}

impl Promote {
    pub fn new(step: &StepDef) -> Result<Promote, Error> {
        let p: Params = super::params(step, NAME)?;
        Ok(Promote {
            lift_guard: p.lift_guard,
            timeout: std::time::Duration::from_secs(p.timeout_seconds.max(1)),
        })
    }

    /// (new primary, new backup) and whether the journal already says so.
    fn target(&self, ctx: &StepContext<'_>) -> Result<(String, String, bool), Error> {
        let at_start = common::run_roles(ctx)?;
        let now = common::current_roles(ctx.topology, ctx.journal)?;
        let done = now.primary == at_start.backup && now.backup == at_start.primary;
        Ok((at_start.backup, at_start.primary, done))
    }
}

impl Action for Promote {
    fn name(&self) -> &'static str {
        NAME
    }

    fn plan(&mut self, ctx: &mut StepContext<'_>) -> Result<Plan, Error> {
        let (new_primary, new_backup, done) = self.target(ctx)?;
        let mut plan = Plan::default();
        if self.lift_guard {
            let guard = super::fence::guard_bindings_in_force(ctx, &new_primary, self.timeout)?;
            if !guard.is_empty() {
                plan.changes.push(format!(
                    "`{new_primary}`: lift the `app-writes` guard ({} ACL binding(s)) so applications may write",
                    guard.len()
                ));
                for b in &guard {
                    plan.changes
                        .push(format!("`{new_primary}`: delete ACL {b}"));
                }
            }
        }
        if done {
            plan.notes.push(format!(
                "the journal already has `{new_primary}` as primary and `{new_backup}` as backup"
            ));
        } else {
            plan.changes.push(format!(
                "journal: record `{new_primary}` as primary and `{new_backup}` as backup"
            ));
        }
        plan.detail = json!({ "new_primary": new_primary, "new_backup": new_backup });
        Ok(plan)
    }

    fn apply(
        &mut self,
        ctx: &mut StepContext<'_>,
        _plan: &Plan,
    ) -> Result<serde_json::Value, Error> {
        let (new_primary, new_backup, done) = self.target(ctx)?;
        let mut lifted = 0;
        if self.lift_guard {
            lifted = super::fence::lift_guard(ctx, &new_primary, self.timeout)?;
        }
        if !done {
            ctx.journal
                .record_role_change(Some(ctx.run_id), &new_primary, Role::Primary)?;
            ctx.journal
                .record_role_change(Some(ctx.run_id), &new_backup, Role::Backup)?;
        }
        ctx.reporter.status(
            "Promoted",
            &format!("`{new_primary}` is now primary, `{new_backup}` backup"),
        );
        Ok(json!({
            "new_primary": new_primary,
            "new_backup": new_backup,
            "guard_bindings_lifted": lifted,
        }))
    }

    fn verify(&mut self, ctx: &mut StepContext<'_>, _plan: &Plan) -> Result<Verdict, Error> {
        let (new_primary, _, done) = self.target(ctx)?;
        if !done {
            return Ok(Verdict::NotDone(
                "the journal does not record the new roles".into(),
            ));
        }
        if self.lift_guard {
            let left = super::fence::guard_bindings_in_force(ctx, &new_primary, self.timeout)?;
            if !left.is_empty() {
                return Ok(Verdict::NotDone(format!(
                    "{} `app-writes` binding(s) still in force on `{new_primary}`",
                    left.len()
                )));
            }
        }
        Ok(Verdict::Done)
    }
}
