//! `confirm`: stop and ask the operator before the steps that follow (e.g. "dc1 is
//! really down?"). Parameter: `message`.
//!
//! `--yes` answers yes without asking. Otherwise the question is asked on the terminal
//! (default no, Enter required); without a terminal the step refuses, so automation must
//! say `--yes` explicitly. It changes nothing on any cluster; the journaled output says
//! how it was answered. The answer is not carried across processes: a resumed run whose
//! `confirm` step was interrupted asks again.

use serde::Deserialize;
use serde_json::json;

use super::ActionError;
use crate::engine::PromptError;
use crate::engine::{Action, Plan, StepContext, Verdict};
use crate::error::Error;
use crate::runbook::StepDef;

pub const NAME: &str = "confirm";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    message: String,
}

#[derive(Debug)]
pub struct Confirm {
    message: String,
    /// Set when apply got a yes in this process.
    confirmed: bool,
}

impl Confirm {
    pub fn new(step: &StepDef) -> Result<Confirm, ActionError> {
        let p: Params = super::params(step, NAME)?;
        if p.message.trim().is_empty() {
            return Err(ActionError::Params {
                step: step.id.clone(),
                action: NAME,
                reason: "`message` is empty: say what the operator is agreeing to".into(),
            });
        }
        Ok(Confirm {
            message: p.message,
            confirmed: false,
        })
    }
}

impl Action for Confirm {
    fn name(&self) -> &'static str {
        NAME
    }

    fn plan(&mut self, ctx: &mut StepContext<'_>) -> Result<Plan, Error> {
        let mut notes = Vec::new();
        if ctx.assume_yes {
            notes.push("--yes answers it without asking".to_string());
        }
        Ok(Plan {
            changes: vec![format!("would ask: {}", self.message)],
            notes,
            detail: json!({ "message": self.message }),
        })
    }

    fn apply(
        &mut self,
        ctx: &mut StepContext<'_>,
        _plan: &Plan,
    ) -> Result<serde_json::Value, Error> {
        let how = if ctx.assume_yes {
            "--yes"
        } else if !ctx.reporter.is_tty() {
            return Err(ActionError::NeedsConfirmation {
                step: ctx.step_id.to_string(),
            }
            .into());
        } else {
            match ctx.reporter.confirm(&self.message) {
                Ok(true) => "prompt",
                Ok(false) => {
                    return Err(ActionError::Declined {
                        step: ctx.step_id.to_string(),
                    }
                    .into())
                }
                Err(PromptError::Interrupted) => {
                    return Err(ActionError::Interrupted {
                        during: format!("step `{}` asked for confirmation", ctx.step_id),
                    }
                    .into())
                }
                Err(PromptError::Terminal(reason)) => {
                    return Err(ActionError::Prompt {
                        step: ctx.step_id.to_string(),
                        reason,
                    }
                    .into())
                }
            }
        };
        self.confirmed = true;
        Ok(json!({ "confirmed": true, "how": how, "message": self.message }))
    }

    fn verify(&mut self, _ctx: &mut StepContext<'_>, _plan: &Plan) -> Result<Verdict, Error> {
        Ok(if self.confirmed {
            Verdict::Done
        } else {
            Verdict::NotDone("not confirmed in this process".into())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{step, Fixture};
    use super::*;
    use crate::exit_code::ExitCode;

    fn confirm() -> Confirm {
        Confirm::new(&step("ask", NAME, json!({"message": "dc1 is down?"}))).unwrap()
    }

    #[test]
    fn plan_says_what_it_would_ask() {
        let f = Fixture::new();
        let plan = confirm().plan(&mut f.ctx("ask")).unwrap();
        assert_eq!(plan.changes, vec!["would ask: dc1 is down?"]);
        assert!(!plan.is_noop());
    }

    #[test]
    fn yes_confirms_without_asking() {
        let f = Fixture::new();
        let mut ctx = f.ctx("ask");
        ctx.assume_yes = true;
        let mut c = confirm();
        let plan = c.plan(&mut ctx).unwrap();
        assert_eq!(
            c.verify(&mut ctx, &plan).unwrap(),
            Verdict::NotDone("not confirmed in this process".into())
        );
        let out = c.apply(&mut ctx, &plan).unwrap();
        assert_eq!(out["how"], "--yes");
        assert_eq!(c.verify(&mut ctx, &plan).unwrap(), Verdict::Done);
    }

    #[test]
    fn no_terminal_and_no_yes_refuses() {
        let f = Fixture::new();
        let mut ctx = f.ctx("ask");
        let mut c = confirm();
        let plan = c.plan(&mut ctx).unwrap();
        let err = c.apply(&mut ctx, &plan).unwrap_err();
        assert_eq!(err.exit_code(), ExitCode::NotConfirmed);
        assert_eq!(
            err.to_string(),
            "step `ask` needs confirmation and stdin is not a terminal\nhelp: re-run with --yes"
        );
    }

    #[test]
    fn bad_params_are_usage_errors() {
        for params in [
            json!({}),
            json!({"message": " "}),
            json!({"message": "x", "extra": 1}),
        ] {
            let err = Confirm::new(&step("ask", NAME, params)).unwrap_err();
            assert_eq!(err.exit_code(), ExitCode::Usage, "{err}");
            assert!(err
                .to_string()
                .starts_with("step `ask` (action `confirm`): bad parameters"));
        }
    }
}
