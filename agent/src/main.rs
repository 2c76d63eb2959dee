//! The `svcproxy` binary: parse the command line, validate it, run the subcommand; on failure
//! print a one-line reason on stderr and exit non-zero (2 for a bad command line).

use std::io::IsTerminal as _;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Parser as _;
use svcproxy::app;
use svcproxy::cli::Cli;
use svcproxy::config::Config;
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::try_from(cli) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("svcproxy: {err}");
            return ExitCode::from(2);
        }
    };
    init_logging();
    match run(&config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("svcproxy: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// Runs the subcommand on a multi-threaded runtime.
fn run(config: &Config) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime
        .block_on(app::execute(config))
        .with_context(|| subcommand(config))
}

/// The subcommand's name, for the error line.
fn subcommand(config: &Config) -> &'static str {
    match config {
        Config::Sync(_) => "sync",
        Config::Run(_) => "run",
        Config::Dump(_) => "dump",
        Config::Cleanup(_) => "cleanup",
        Config::Demo(_) => "demo",
    }
}

/// Logs to stderr, at `info` unless `RUST_LOG` says otherwise.
fn init_logging() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}
