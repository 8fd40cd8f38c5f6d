//! `bench-driver`: the measuring half of `bench/run.sh`.
//!
//! * `prepare` writes the request bodies every tool sends.
//! * `run` drives one scenario against one target (mock, proxy or peer) and writes its timings:
//!   per-request latency, time to first byte / first content delta / last byte, inter-chunk
//!   gaps, streams open at once, RSS, and the correctness check of sampled answers.
//! * `report` turns a run directory into the results JSON and the markdown table.
//!
//! Raw throughput is left to `wrk`; this driver measures what a generic load generator cannot
//! (stream timings, gaps, streams at scale, WebSocket) and checks the answers it times.

mod check;
mod prepare;
mod report;
mod run;
mod stats;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "bench-driver",
    about = "Benchmark driver for codex-convert-proxy"
)]
struct Cli {
    /// Runtime worker threads; 1 runs everything on the current thread.
    #[arg(long, default_value_t = 1, global = true)]
    threads: usize,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Write the benchmark's request bodies.
    Prepare(prepare::PrepareArgs),
    /// Measure one scenario against one target.
    Run(run::RunArgs),
    /// Build the results JSON and markdown from a run directory.
    Report(report::ReportArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match execute(cli) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(2),
        Err(e) => {
            eprintln!("bench-driver: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Ok(false) when the command ran but found wrong answers.
fn execute(cli: Cli) -> Result<bool, run::BoxError> {
    match cli.command {
        Command::Prepare(args) => {
            let summary = prepare::prepare(&args)?;
            println!("{summary}");
            Ok(true)
        }
        Command::Run(args) => {
            let runtime = if cli.threads <= 1 {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?
            } else {
                tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(cli.threads)
                    .enable_all()
                    .build()?
            };
            let out = args.out.clone();
            let report = runtime.block_on(run::run(args))?;
            let json = serde_json::to_string_pretty(&report)?;
            if let Some(path) = out {
                std::fs::write(&path, &json).map_err(|e| format!("{}: {e}", path.display()))?;
            }
            eprintln!(
                "{}: {} ok, {} errors, {:.0} req/s, total p50 {:.1} µs p99 {:.1} µs, first delta p99 {:.1} µs, gap p99 {:.1} µs, {} stalled, {} checked, {} wrong",
                report.label,
                report.ok,
                report.errors,
                report.requests_per_sec,
                report.total_us.p50,
                report.total_us.p99,
                report.first_delta_us.p99,
                report.gap_us.p99,
                report.stalled_answers,
                report.checked,
                report.check_failures
            );
            Ok(report.check_failures == 0)
        }
        Command::Report(args) => report::report(&args),
    }
}
