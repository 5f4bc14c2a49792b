//! The EXAMPLES sections of the man pages: how the procedure is run, not only which flags
//! exist. Plain text for a roff `.nf` block: no line starts with `.` or `'`, and there is
//! no backslash (a test checks both), so the text goes into the page as it is.

/// `kafka-dr(1)`: the whole procedure, from rehearsal to failback.
const OVERVIEW: &str = "\
Before any incident: check the set-up and keep the deltas recorded
(on a host in the backup DC):
    kafka-dr check --topology prod.yaml
    kafka-dr deltas record --follow --topology prod.yaml

Rehearse: say exactly what a failover would do, change nothing:
    kafka-dr failover promote --topology prod.yaml --dry-run

The primary is gone: promote the backup (asks before each step
that needs it; --yes answers for a script):
    kafka-dr failover promote --topology prod.yaml

The old primary is back: keep and remove what it holds that never
reached the new primary, and mirror the new primary into it:
    kafka-dr failback reverse --topology prod.yaml
    kafka-dr tail show --topology prod.yaml

A run was interrupted (Ctrl-C, a crash, a cluster that failed):
    kafka-dr runs list --topology prod.yaml
    kafka-dr resume --topology prod.yaml

Exit status 0 means done; see EXIT STATUS for the others.";

/// `kafka-dr-failover-promote(1)`.
const FAILOVER_PROMOTE: &str = "\
Rehearse in a drill: every step's plan, exactly what it would
change, and nothing changed on any cluster:
    kafka-dr failover promote --topology prod.yaml --dry-run

During the incident, at a terminal (each confirmation is asked):
    kafka-dr failover promote --topology prod.yaml

From a script or a pager bot, with one JSON document on stdout:
    kafka-dr failover promote --topology prod.yaml --yes --output json

If it stops (a step failed, Ctrl-C, the host rebooted), fix what
the error's help line says, then go on from that step:
    kafka-dr resume --topology prod.yaml

A run left by a host that is gone holds the lease; from another
host with the same journal:
    kafka-dr failover promote --topology prod.yaml --take-over-lease";

/// `kafka-dr-failback-reverse(1)`.
const FAILBACK_REVERSE: &str = "\
After a failover, once the old primary is back up. First see what
would be quarantined, removed and seeded:
    kafka-dr failback reverse --topology prod.yaml --dry-run

Then run it; the quarantine is written and checked before anything
is deleted:
    kafka-dr failback reverse --topology prod.yaml

Look at what was kept (a manifest and a JSON Lines file):
    kafka-dr tail show --topology prod.yaml

Interrupted or failed: go on from the step that stopped:
    kafka-dr resume --topology prod.yaml";

/// `kafka-dr-resume(1)`.
const RESUME: &str = "\
The newest unfinished run on this topology:
    kafka-dr resume --topology prod.yaml

A given run, after reading what it did so far:
    kafka-dr runs show 12 --topology prod.yaml
    kafka-dr resume 12 --topology prod.yaml

The runbook changed since the run started (say why in the
incident log first):
    kafka-dr resume 12 --topology prod.yaml --force";

/// `kafka-dr-plan(1)`.
const PLAN: &str = "\
What an embedded runbook would change now, step by step:
    kafka-dr plan failover-promote --topology prod.yaml
    kafka-dr plan snapshot --topology prod.yaml

A runbook file of your own (checked as a run would check it):
    kafka-dr plan ./my-failover.yaml --topology prod.yaml";

/// `kafka-dr-check(1)`.
const CHECK: &str = "\
Before relying on the set-up (exit 0: ready; 3: problems found):
    kafka-dr check --topology prod.yaml

In monitoring, one JSON document:
    kafka-dr check --topology prod.yaml --output json";

/// `kafka-dr-deltas-record(1)`.
const DELTAS_RECORD: &str = "\
One pass (what a failover will translate from):
    kafka-dr deltas record --topology prod.yaml

Keep recording every 10 seconds until stopped:
    kafka-dr deltas record --follow --interval 10 --topology prod.yaml";

/// The EXAMPLES text of a page, by page name.
pub fn for_page(page: &str) -> Option<&'static str> {
    Some(match page {
        "kafka-dr" => OVERVIEW,
        "kafka-dr-failover-promote" => FAILOVER_PROMOTE,
        "kafka-dr-failback-reverse" => FAILBACK_REVERSE,
        "kafka-dr-resume" => RESUME,
        "kafka-dr-plan" => PLAN,
        "kafka-dr-check" => CHECK,
        "kafka-dr-deltas-record" => DELTAS_RECORD,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::for_page;

    #[test]
    fn examples_are_roff_safe_and_use_real_commands() {
        let pages = [
            "kafka-dr",
            "kafka-dr-failover-promote",
            "kafka-dr-failback-reverse",
            "kafka-dr-resume",
            "kafka-dr-plan",
            "kafka-dr-check",
            "kafka-dr-deltas-record",
        ];
        for page in pages {
            let text = for_page(page).unwrap();
            for line in text.lines() {
                assert!(!line.starts_with('.') && !line.starts_with('\''), "{line}");
                assert!(!line.contains('\\'), "{line}");
                assert!(line.len() <= 72, "{page}: {line}");
            }
            // Every example command parses with the real CLI definition.
            for line in text
                .lines()
                .map(str::trim)
                .filter(|l| l.starts_with("kafka-dr "))
            {
                let args: Vec<&str> = line.split_whitespace().collect();
                use clap::Parser;
                if let Err(e) = crate::cli::Cli::try_parse_from(&args) {
                    panic!("{page}: `{line}` does not parse: {e}");
                }
            }
        }
    }
}
