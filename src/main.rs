//! The `kafka-dr` binary: parse the command line, run it, map the error to an exit code.
//! This is the only place that exits the process; the contract is `error::ExitCode`.

use clap::Parser;

fn main() {
    let cli = kafka_dr::cli::Cli::parse();
    let reporter = cli.reporter();
    let code = match kafka_dr::cli::run(cli) {
        Ok(()) => 0,
        Err(err) => {
            reporter.error(&err);
            err.exit_code() as i32
        }
    };
    std::process::exit(code);
}
