//! `fence.lift`: deletes exactly the bindings a journaled fence created (DeleteAcls with
//! exact filters), so bindings an operator made by hand are never touched, and marks the
//! fence lifted in the journal. With nothing active it plans nothing. It writes to a
//! cluster only through DeleteAcls.

use std::time::Duration;

use serde::Deserialize;
use serde_json::json;

use super::common;
use super::fence::*;
use crate::engine::{Action, Plan, StepContext, Verdict};
use crate::error::Error;
use crate::runbook::StepDef;
/// The runbook name of the action that lifts a journaled fence.
pub const LIFT: &str = "fence.lift";
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LiftParams {
    fence: String,
    cluster: String,
    timeout_seconds: u64,
}

/// `fence.lift`: delete exactly the bindings of a journaled active fence.
#[derive(Debug)]
pub struct Lift {
    fence: Fence,
    cluster: String,
    timeout: Duration,
}

impl Lift {
    pub fn new(step: &StepDef) -> Result<Lift, Error> {
        let p: LiftParams = super::params(step, LIFT)?;
        let fence = parse_fence(step, LIFT, &p.fence)?;
        Ok(Lift {
            fence,
            cluster: p.cluster,
            timeout: Duration::from_secs(p.timeout_seconds.max(1)),
        })
    }
}

impl Action for Lift {
    fn name(&self) -> &'static str {
        LIFT
    }

    fn plan(&mut self, ctx: &mut StepContext<'_>) -> Result<Plan, Error> {
        let cluster = common::resolve_cluster(ctx, &self.cluster)?;
        let mut plan = Plan::default();
        let Some(row) = active_fence(ctx.journal, &cluster, self.fence)? else {
            plan.notes.push(format!(
                "nothing to do: the journal records no active fence `{}` on `{cluster}`",
                self.fence
            ));
            plan.detail = json!({ "cluster": cluster, "fence": self.fence, "active": false });
            return Ok(plan);
        };
        let bindings = row_bindings(&row)?;
        let client = common::kafka_in(ctx, &cluster, self.timeout)?;
        let present = in_force(&client, &bindings, self.timeout)?;
        for b in &bindings {
            if present.contains(b) {
                plan.changes.push(format!("`{cluster}`: delete ACL {b}"));
            } else {
                plan.notes.push(format!("`{cluster}`: already gone: {b}"));
            }
        }
        plan.changes.push(format!(
            "journal: mark fence `{}` on `{cluster}` (applied by run {} at {}) lifted",
            self.fence, row.run_id, row.applied_at
        ));
        plan.detail = json!({
            "cluster": cluster,
            "fence": self.fence,
            "active": true,
            "fence_id": row.id,
            "bindings": bindings,
        });
        Ok(plan)
    }

    fn apply(
        &mut self,
        ctx: &mut StepContext<'_>,
        _plan: &Plan,
    ) -> Result<serde_json::Value, Error> {
        let cluster = common::resolve_cluster(ctx, &self.cluster)?;
        let deleted = lift_active(ctx, &cluster, self.fence, self.timeout)?;
        ctx.reporter.status(
            "Lifted",
            &format!(
                "`{cluster}`: fence `{}` lifted ({deleted} binding(s) deleted)",
                self.fence
            ),
        );
        Ok(json!({ "cluster": cluster, "fence": self.fence, "deleted": deleted }))
    }

    fn verify(&mut self, ctx: &mut StepContext<'_>, _plan: &Plan) -> Result<Verdict, Error> {
        let cluster = common::resolve_cluster(ctx, &self.cluster)?;
        let Some(row) = ctx
            .journal
            .fences(None)?
            .into_iter()
            .rev()
            .find(|f| f.cluster == cluster && f.name == self.fence.name())
        else {
            // Never fenced: nothing to lift.
            return Ok(Verdict::Done);
        };
        if row.lifted_at.is_none() {
            return Ok(Verdict::NotDone(format!(
                "the journal still records fence `{}` on `{cluster}` as active",
                self.fence
            )));
        }
        let bindings = row_bindings(&row)?;
        let client = common::kafka_in(ctx, &cluster, self.timeout)?;
        let left: Vec<String> = in_force(&client, &bindings, self.timeout)?
            .iter()
            .map(|b| format!("  {b}"))
            .collect();
        if left.is_empty() {
            return Ok(Verdict::Done);
        }
        Ok(Verdict::NotDone(format!(
            "{} binding(s) of fence `{}` are still in force on `{cluster}`:\n{}\nhelp: re-run the step, or delete them with `kafka-acls.sh --remove`",
            left.len(),
            self.fence,
            left.join("\n")
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actions::test_support::{step, Fixture};

    #[test]
    fn lift_with_nothing_active_plans_nothing_and_verifies_done() {
        let f = Fixture::new();
        let mut ctx = f.ctx("lift");
        let mut lift = Lift::new(&step(
            "lift",
            LIFT,
            json!({"fence": "app-writes", "cluster": "backup"}),
        ))
        .unwrap();
        // No active fence: no cluster is contacted.
        let plan = lift.plan(&mut ctx).unwrap();
        assert!(plan.is_noop(), "{plan:?}");
        assert!(plan.notes[0].starts_with("nothing to do"), "{plan:?}");
        assert_eq!(lift.verify(&mut ctx, &plan).unwrap(), Verdict::Done);
        assert!(guard_bindings_in_force(&ctx, "dc2", Duration::from_secs(1))
            .unwrap()
            .is_empty());
        assert_eq!(lift_guard(&ctx, "dc2", Duration::from_secs(1)).unwrap(), 0);
    }
}
