//! The `rocforge-ci` binary: parse arguments, run one command, render, exit.

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::args::Cli::parse();
    cli::mask_secrets();
    let result = cli::run(&cli).and_then(|report| {
        cli::emit(&report, cli.global.json)?;
        Ok(report.exit_status())
    });
    match result {
        // The one place a run's outcome becomes the process exit code.
        Ok(status) => ExitCode::from(status.code()),
        Err(error) => {
            eprintln!("error: {error}");
            for cause in error.chain().skip(1) {
                eprintln!("  Caused by: {cause}");
            }
            ExitCode::from(rocforge_ci::findings::ExitStatus::Failure.code())
        }
    }
}
