//! Structured logs to stderr and to `log_dir/codex-convert-proxy.log`; errors also to
//! `log_dir/error.log`. `RUST_LOG` filters (default `info`).

use std::io::IsTerminal as _;
use std::path::Path;

use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer as _};

/// Keeps the background log writers alive.
pub struct LogGuards {
    _guards: Vec<WorkerGuard>,
}

/// Installs the global subscriber.
pub fn init(log_dir: &Path) -> std::io::Result<LogGuards> {
    std::fs::create_dir_all(log_dir)?;
    // Writers run on background threads so a request never waits on a log write; they block
    // (rather than drop lines) only if their buffer fills.
    let writer = |w| {
        tracing_appender::non_blocking::NonBlockingBuilder::default()
            .lossy(false)
            .finish(w)
    };
    let (main_writer, g1) = writer(Box::new(tracing_appender::rolling::never(
        log_dir,
        "codex-convert-proxy.log",
    )) as Box<dyn std::io::Write + Send>);
    let (error_writer, g2) = writer(Box::new(tracing_appender::rolling::never(
        log_dir,
        "error.log",
    )));
    let (stderr_writer, g3) = writer(Box::new(std::io::stderr()));
    let filter = || EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let stderr = tracing_subscriber::fmt::layer()
        .with_writer(stderr_writer)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .with_filter(filter());
    let file = tracing_subscriber::fmt::layer()
        .with_writer(main_writer)
        .with_ansi(false)
        .json()
        .with_filter(filter());
    let errors = tracing_subscriber::fmt::layer()
        .with_writer(error_writer)
        .with_ansi(false)
        .json()
        .with_filter(LevelFilter::ERROR);
    tracing_subscriber::registry()
        .with(stderr)
        .with(file)
        .with(errors)
        .try_init()
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    Ok(LogGuards {
        _guards: vec![g1, g2, g3],
    })
}
