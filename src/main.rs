//! The `kafka-dr` binary: parse the command line, run it, map the error to an exit code.
//! This is the only place that exits the process; the contract is `error::ExitCode`.

use clap::Parser;

fn main() {
    install_panic_hook();
    let cli = match kafka_dr::cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => bad_arguments(e),
    };
    let reporter = cli.reporter();
    let code = match kafka_dr::cli::run(cli) {
        Ok(()) => 0,
        Err(err) => {
            // The reporter masks every secret the command resolved (crate::redact is
            // process-wide), so this last line is as safe as the rest of the output.
            reporter.error(&err, err.exit_code());
            err.exit_code() as i32
        }
    };
    std::process::exit(code);
}

/// clap refused the arguments: its message (and exit code 2) as usual, plus, under
/// `--output json`, the one JSON document the README promises for every command.
fn bad_arguments(e: clap::Error) -> ! {
    use clap::error::ErrorKind;
    let wants_json = {
        let args: Vec<String> = std::env::args().skip(1).collect();
        args.iter().enumerate().any(|(i, a)| {
            a == "--output=json"
                || a == "-ojson"
                || ((a == "--output" || a == "-o") && args.get(i + 1).is_some_and(|v| v == "json"))
        })
    };
    let informational = matches!(
        e.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    );
    if wants_json && !informational {
        let message = kafka_dr::redact::terminal_safe(&e.to_string());
        let doc = serde_json::json!({
            "error": { "message": message.trim_end(), "exit_code": e.exit_code() }
        });
        let reporter = kafka_dr::report::Reporter::new(kafka_dr::report::OutputFormat::Json, 0);
        let _ = reporter.json(&doc);
        eprint!("{message}");
        std::process::exit(e.exit_code());
    }
    e.exit()
}

/// A panic is a bug in kafka-dr. Instead of a backtrace, say so in one place, mark the
/// run being driven (if any) failed in the journal so it does not stay `running`
/// forever, and say where to look. `RUST_BACKTRACE=1` still gets the default report.
fn install_panic_hook() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let what = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic".to_string());
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let what = kafka_dr::redact::terminal_safe(&kafka_dr::redact::redact(&what));
        let reason = format!("kafka-dr crashed (internal error{at}): {what}");
        eprintln!("error: {reason}");
        match kafka_dr::journal::fail_current_run_after_panic(&reason) {
            Some((run, journal, true)) => eprintln!(
                "help: run {run} is marked failed in the journal `{}`; `kafka-dr runs show {run}` shows how far it got, and `kafka-dr resume {run}` continues it (a step in progress is verified first)",
                journal.display()
            ),
            Some((run, journal, false)) => eprintln!(
                "help: run {run} could not be marked failed in the journal `{}`; `kafka-dr runs show {run}` shows how far it got",
                journal.display()
            ),
            None => {}
        }
        eprintln!("help: this is a bug; please report it with the command you ran (RUST_BACKTRACE=1 prints a backtrace)");
        if std::env::var_os("RUST_BACKTRACE").is_some_and(|v| v != "0") {
            default(info);
        }
    }));
}
