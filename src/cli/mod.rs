//! The command-line interface: clap definitions, and one file per command.
//!
//! Each command file turns parsed arguments into a call to the library and hands the
//! result to `report`; no Kafka, SQL or printing logic lives here. The command tree in
//! this folder mirrors the CLI tree. Help text, man pages and shell completions all come
//! from the one definition in this file (`Cli::command()`).

pub mod adhoc;
pub mod check;
pub mod completions;
pub mod deltas;
pub mod error;
pub mod examples;
pub mod failback;
pub mod failover;
pub mod fence;
pub mod groups;
pub mod man;
pub mod mirror;
pub mod run;
pub mod runs;
pub mod session;
pub mod status;
pub mod switchover;
pub mod tail;
pub mod watermarks;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::report::{OutputFormat, Reporter};
use error::Result;

/// The exit-code table printed at the end of `--help` and in the man page.
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0    success
  1    a step failed while talking to Kafka, Connect or a hook
  2    bad input: arguments, topology file or runbook file
  3    `check` found an error (warnings and info alone exit 0)
  4    conflict: another run holds the lease, or a run cannot be resumed as asked
  5    a confirmation was refused, or needed without a terminal and without --yes
  6    a cluster or Connect endpoint was unreachable within its timeout
  7    the journal cannot be used: a symlink, directory or device, not creatable,
       not an SQLite journal, or written by a newer kafka-dr
  130  interrupted (Ctrl-C); the journal says where the run stopped";

/// Disaster-recovery orchestrator for Apache Kafka clusters mirrored by MirrorMaker 2.
///
/// kafka-dr fails consumers and producers over to the backup cluster at the right
/// offsets, and fails back without losing the data the old primary never replicated.
/// Every step is journaled in SQLite so an interrupted run can be resumed, and every
/// step can be dry-run first.
#[derive(Debug, Parser)]
#[command(name = "kafka-dr", version, about, long_about, after_long_help = EXIT_CODES_HELP)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Flags every command accepts.
#[derive(Debug, Args, Clone)]
pub struct GlobalArgs {
    /// The topology file: clusters, roles, MM2 connectors, what is in scope.
    #[arg(
        long,
        global = true,
        env = "KAFKA_DR_TOPOLOGY",
        default_value = "kafka-dr.yaml",
        value_name = "FILE"
    )]
    pub topology: PathBuf,
    /// The journal (SQLite); default: `<topology stem>.journal.db` beside the topology.
    #[arg(long, global = true, env = "KAFKA_DR_JOURNAL", value_name = "FILE")]
    pub journal: Option<PathBuf>,
    /// Answer yes to every confirmation (needed without a terminal).
    #[arg(long, short = 'y', global = true)]
    pub yes: bool,
    /// Plan only: say exactly what would change, change nothing on any cluster.
    #[arg(long, global = true)]
    pub dry_run: bool,
    /// Output format: human tables, or one JSON document per command.
    #[arg(long, short = 'o', global = true, value_enum, default_value_t = OutputArg::Table)]
    pub output: OutputArg,
    /// More detail (repeat for more).
    #[arg(long, short = 'v', global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Less output: errors and final results only.
    #[arg(long, short = 'q', global = true, action = clap::ArgAction::Count)]
    pub quiet: u8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputArg {
    Table,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Read-only preflight: clusters, permissions, MM2 connectors, and the RPO right now.
    ///
    /// Per cluster: reachable, authenticated, cluster id, brokers, in-scope topics and
    /// groups, whether kafka-dr's principal may describe and alter ACLs and the groups'
    /// offsets. Per flow: the MM2 connectors and their tasks. Then the replication lag per
    /// partition: the records you would lose if the primary died this second. Exits 3 when
    /// anything needs attention.
    Check(check::CheckArgs),
    /// Fail back once the old primary returns (runs the embedded failback-reverse runbook).
    #[command(subcommand)]
    Failback(failback::FailbackCommand),
    /// Fail over to the backup (runs the embedded failover-promote runbook).
    #[command(subcommand)]
    Failover(failover::FailoverCommand),
    /// Where things stand: which cluster is primary now, which MM2 flow runs, the last run.
    Status(status::StatusArgs),
    /// Planned switchover, both clusters up: the backup becomes primary with nothing lost
    /// and nothing delivered twice (runs the embedded switchover runbook).
    ///
    /// Fences application writes on the primary, waits until MirrorMaker 2 has copied
    /// every record and the in-scope consumer groups are idle, translates every group
    /// position exactly and commits it on the backup, stops and fences the mirror, lifts
    /// the guard on the backup and records it as primary, then mirrors it back into the
    /// old primary from its exact log ends. Run it again to switch back.
    Switchover(switchover::SwitchoverArgs),
    /// Record MM2's offset syncs and the groups' positions while the primary is up.
    #[command(subcommand)]
    Deltas(deltas::DeltasCommand),
    /// ACL fences: apply, lift, status.
    #[command(subcommand)]
    Fence(fence::FenceCommand),
    /// Consumer-group offsets: translate to the backup, commit there.
    #[command(subcommand)]
    Groups(groups::GroupsCommand),
    /// MirrorMaker 2 flows: stop, status.
    #[command(subcommand)]
    Mirror(mirror::MirrorCommand),
    /// The old primary's quarantined tail (after `failback reverse`).
    #[command(subcommand)]
    Tail(tail::TailCommand),
    /// Watermarks (earliest and latest offsets) of in-scope partitions.
    #[command(subcommand)]
    Watermarks(watermarks::WatermarksCommand),
    /// Run a runbook: plan, apply and verify each step, journaling every one.
    Run(run::RunArgs),
    /// Dry-run a runbook: print exactly what each step would change; change nothing.
    Plan(run::PlanArgs),
    /// Resume an interrupted or failed run where it stopped.
    ///
    /// Finished steps are not re-run. A step that was in progress when the run stopped is
    /// verified first and re-applied only if its effect is not in place.
    Resume(run::ResumeArgs),
    /// The runs recorded in the journal.
    #[command(subcommand)]
    Runs(runs::RunsCommand),
    /// Print a shell completion script.
    Completions(completions::CompletionsArgs),
}

impl Cli {
    /// Build the reporter the whole command writes through.
    pub fn reporter(&self) -> Reporter {
        Reporter::new(
            match self.global.output {
                OutputArg::Table => OutputFormat::Table,
                OutputArg::Json => OutputFormat::Json,
            },
            self.global.verbose as i8 - self.global.quiet as i8,
        )
    }
}

/// Run the parsed command line.
pub fn run(cli: Cli) -> Result<()> {
    let reporter = cli.reporter();
    let g = &cli.global;
    if let Command::Completions(args) = &cli.command {
        return completions::run(args, &reporter);
    }
    // Every other command starts from the validated topology.
    let session = session::Session::open(g, &reporter)?;
    let s = &session;
    match &cli.command {
        Command::Completions(_) => Ok(()),
        Command::Check(args) => check::run(args, s),
        Command::Failover(cmd) => failover::run(cmd, g, s),
        Command::Failback(cmd) => failback::run(cmd, g, s),
        Command::Switchover(args) => switchover::run(args, g, s),
        Command::Status(args) => status::run(args, s),
        Command::Tail(cmd) => tail::run(cmd, s),
        Command::Deltas(cmd) => deltas::run(cmd, g, s),
        Command::Fence(cmd) => fence::run(cmd, g, s),
        Command::Groups(cmd) => groups::run(cmd, g, s),
        Command::Mirror(cmd) => mirror::run(cmd, g, s),
        Command::Watermarks(cmd) => watermarks::run(cmd, g, s),
        Command::Run(args) => run::run(args, g, s),
        Command::Plan(args) => run::plan(args, g, s),
        Command::Resume(args) => run::resume(args, g, s),
        Command::Runs(cmd) => runs::run(cmd, g, s),
    }
}

/// Extra roff text appended to a man page: sections clap cannot express.
pub fn man_extra_section(page: &str) -> Option<String> {
    let mut out = String::new();
    if let Some(text) = examples::for_page(page) {
        out.push_str(&format!(".SH EXAMPLES\n.nf\n{text}\n.fi\n"));
    }
    match page {
        "kafka-dr" => out.push_str(&format!(
            ".SH \"EXIT STATUS\"\n.nf\n{}\n.fi\n",
            EXIT_CODES_HELP.replace('\\', "\\\\")
        )),
        "kafka-dr-tail-show" => out.push_str(&format!(
            ".SH \"QUARANTINE FILES\"\n.nf\n{}\n.fi\n",
            crate::actions::quarantine_file::QUARANTINE_FORMAT_DOC.replace('\\', "\\\\")
        )),
        _ => {}
    }
    (!out.is_empty()).then_some(out)
}
