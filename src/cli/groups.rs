//! `kafka-dr groups translate|commit`: consumer-group offsets by hand. `translate` shows
//! (and journals) each group's translated position on the backup; `commit` translates
//! and commits in one run, so the committed offsets are exactly the ones shown.

use clap::{Args, Subcommand};
use serde_json::json;

use super::error::Result;

use super::session::Session;
use super::{adhoc, GlobalArgs};

#[derive(Debug, Subcommand)]
pub enum GroupsCommand {
    /// Translate in-scope groups' positions from the primary to the backup.
    Translate(TranslateArgs),
    /// Translate and commit them on the backup (refuses groups with active members).
    Commit(CommitArgs),
}

#[derive(Debug, Args)]
pub struct TranslateArgs {
    /// Only this group (repeatable); default: every in-scope group.
    #[arg(long = "group", value_name = "GROUP")]
    pub groups: Vec<String>,
    /// From this cluster (a name or `primary`).
    #[arg(long, default_value = "primary")]
    pub from: String,
    /// To this cluster (a name or `backup`).
    #[arg(long, default_value = "backup")]
    pub to: String,
}

#[derive(Debug, Args)]
pub struct CommitArgs {
    #[command(flatten)]
    pub translate: TranslateArgs,
    /// Skip groups with active members on the target instead of failing.
    #[arg(long)]
    pub skip_active: bool,
}

fn translate_params(a: &TranslateArgs) -> serde_json::Value {
    let mut p = json!({ "from": a.from, "to": a.to });
    if !a.groups.is_empty() {
        p["groups"] = json!(a.groups);
    }
    p
}

pub fn run(cmd: &GroupsCommand, global: &GlobalArgs, session: &Session) -> Result<()> {
    match cmd {
        GroupsCommand::Translate(a) => {
            let rb = adhoc::runbook(
                "groups-translate",
                "translate",
                "groups.translate",
                translate_params(a),
            )?;
            adhoc::run(rb, global, session, false)
        }
        GroupsCommand::Commit(a) => {
            let text = format!(
                "name: groups-commit\ndescription: run by hand with `kafka-dr groups commit`\nsteps:\n  - id: translate\n    action: groups.translate\n    params: {}\n  - id: commit\n    action: groups.commit\n    params: {}\n",
                translate_params(&a.translate),
                json!({ "cluster": a.translate.to, "translate_step": "translate", "skip_active": a.skip_active })
            );
            let rb =
                crate::runbook::load_str(&text, &format!("{}groups-commit", adhoc::SOURCE_PREFIX))?;
            adhoc::run(rb, global, session, false)
        }
    }
}
