//! `codex-convert-proxy`: the binary. Parses flags, loads the config, sets up logging and runs
//! the server; subcommands live in their own modules.

mod codex_config;
mod doctor;
mod keys;
mod logging;
mod startup;
mod usage;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};

// glibc's allocator keeps the memory of a burst (1,000 open streams) mapped for good; jemalloc
// gives it back to the OS after the burst (measured in docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Serve the OpenAI Responses API (HTTP+SSE) in front of Chat Completions providers.
#[derive(Debug, Parser)]
#[command(name = "codex-convert-proxy", version, about)]
struct Cli {
    /// Path to the JSON config file.
    #[arg(long, short = 'c', global = true, default_value = "./config.json")]
    config: PathBuf,
    /// Validate the config, print every problem, and exit (0 when valid).
    #[arg(long)]
    check_config: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the proxy (the default).
    Serve,
    /// Print (or --write) a Codex config.toml and model catalog that use this proxy.
    CodexConfig(codex_config::Args),
    /// Check the proxy config, probe each backend, and lint the Codex config.
    Doctor(doctor::Args),
    /// List the provider profiles and what each changes on the wire.
    Providers,
    /// Create, list, show, update or revoke virtual keys in the config's store (no proxy needs
    /// to run).
    Keys(Box<keys::Args>),
    /// Sum the usage records in the store by key, model and day (--json for JSON).
    Usage(usage::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.check_config {
        return check_config(&cli.config);
    }
    match cli.command {
        None | Some(Command::Serve) => serve(&cli.config),
        Some(Command::CodexConfig(args)) => codex_config::run(&cli.config, args),
        Some(Command::Doctor(args)) => doctor::run(&cli.config, args),
        Some(Command::Keys(args)) => keys::run(&cli.config, *args),
        Some(Command::Usage(args)) => usage::run(&cli.config, args),
        Some(Command::Providers) => {
            print!("{}", ccp_providers::profile::describe_all());
            ExitCode::SUCCESS
        }
    }
}

/// Loads the config, or prints every problem and gives the exit status for an invalid config (2).
pub(crate) fn load_config(path: &std::path::Path) -> Result<ccp_gateway::config::Config, ExitCode> {
    ccp_gateway::config::load(path).map_err(|errors| {
        eprintln!("{}: invalid config", path.display());
        eprintln!("{errors}");
        ExitCode::from(2)
    })
}

fn check_config(path: &std::path::Path) -> ExitCode {
    let cfg = match load_config(path) {
        Ok(cfg) => cfg,
        Err(code) => return code,
    };
    println!("{}: OK", path.display());
    match serde_json::to_string_pretty(&cfg.summary_json()) {
        Ok(s) => println!("{s}"),
        Err(e) => eprintln!("could not print the summary: {e}"),
    }
    ExitCode::SUCCESS
}

fn serve(path: &std::path::Path) -> ExitCode {
    let config = match load_config(path) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let _guards = match logging::init(&config.log_dir) {
        Ok(g) => g,
        Err(e) => {
            eprintln!(
                "could not set up logging in {}: {e}",
                config.log_dir.display()
            );
            return ExitCode::from(2);
        }
    };
    if !config.is_loopback_listen()
        && config.client_keys.is_empty()
        && !config.governance.keys_possible()
        && !config.allow_unauthenticated
    {
        tracing::error!(
            listen = %config.listen,
            "refusing to start: listening on a non-loopback address without client_keys would make this proxy an open relay that spends your provider keys for anyone who can reach it. Set \"client_keys\" (e.g. [\"${{PROXY_CLIENT_KEY}}\"]), or listen on 127.0.0.1, or set \"allow_unauthenticated\": true if the network is trusted."
        );
        return ExitCode::from(2);
    }
    match runtime(None) {
        Ok(rt) => rt.block_on(run(config)),
        Err(code) => code,
    }
}

/// The async runtime for a command (`workers`: a fixed thread count, else one per core); the
/// error is already reported and carries the exit code.
pub(crate) fn runtime(workers: Option<usize>) -> Result<tokio::runtime::Runtime, ExitCode> {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = workers {
        builder.worker_threads(n);
    }
    builder.enable_all().build().map_err(|e| {
        eprintln!("could not start the async runtime: {e}");
        ExitCode::FAILURE
    })
}

async fn run(config: ccp_gateway::config::Config) -> ExitCode {
    let listen = config.listen;
    let metrics_listen = config.metrics_listen;
    let grace = config.shutdown_grace;
    let telemetry = match telemetry(&config) {
        Ok(t) => t,
        Err(e) => {
            tracing::error!(error = %e, "could not set up telemetry");
            return ExitCode::from(2);
        }
    };
    let gateway = match ccp_gateway::Gateway::open(config).await {
        Ok(g) => Arc::new(g.with_telemetry(telemetry.clone())),
        Err(e) => {
            tracing::error!(error = %e, "could not start");
            return ExitCode::from(2);
        }
    };
    install_redacting_panic_hook(gateway.redactor().clone());
    let listener = match tokio::net::TcpListener::bind(listen).await {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(%listen, error = %e, "could not listen");
            return ExitCode::from(2);
        }
    };
    // The bound address: `listen` with port 0 replaced by the port the OS picked.
    let local = listener.local_addr().unwrap_or(listen);
    startup::announce(gateway.config(), local);
    tracing::info!(listen = %local, backends = gateway.config().backends.len(), "codex-convert-proxy listening");
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    if let Some(addr) = metrics_listen {
        let Ok(listener) = tokio::net::TcpListener::bind(addr).await.inspect_err(|e| {
            tracing::error!(metrics_listen = %addr, error = %e, "could not listen for /metrics");
        }) else {
            return ExitCode::from(2);
        };
        let bound = listener.local_addr().unwrap_or(addr);
        tracing::info!(metrics_addr = %bound, "serving GET /metrics on its own address");
        let mut stop = stop_rx.clone();
        let app = ccp_server::observe::metrics_app(gateway.clone());
        tokio::spawn(ccp_server::serve_app(listener, app, async move {
            let _ = stop.wait_for(|s| *s).await;
        }));
    }
    let mut server_stop = stop_rx.clone();
    // Batched writes still pending at exit (at most the last half second's) go to the store.
    let usage = gateway.usage().clone();
    let governor = gateway.governor().clone();
    let server = tokio::spawn(ccp_server::serve(listener, gateway, async move {
        let _ = server_stop.wait_for(|s| *s).await;
    }));
    shutdown_signal().await;
    tracing::info!(
        grace_secs = grace.as_secs(),
        "shutting down: no new connections; waiting for in-flight requests"
    );
    let _ = stop_tx.send(true);
    let exit = match tokio::time::timeout(grace, server).await {
        Ok(Ok(Ok(()))) => {
            tracing::info!("all requests finished; bye");
            ExitCode::SUCCESS
        }
        Ok(Ok(Err(e))) => {
            tracing::error!(error = %e, "server error");
            ExitCode::FAILURE
        }
        Ok(Err(e)) => {
            tracing::error!(error = %e, "server task failed");
            ExitCode::FAILURE
        }
        Err(_) => {
            tracing::warn!("grace period over; closing remaining connections");
            ExitCode::SUCCESS
        }
    };
    usage.flush().await;
    governor.flush_ledger().await;
    // Queued spans go out now, unless the collector takes longer than this.
    let _ = tokio::task::spawn_blocking(move || {
        telemetry.shutdown(std::time::Duration::from_secs(2));
    })
    .await;
    exit
}

/// Metrics always; traces too when `telemetry.enabled` (built inside the runtime, which runs the
/// exporter's connections).
fn telemetry(config: &ccp_gateway::config::Config) -> Result<ccp_telemetry::Telemetry, String> {
    match config.telemetry.trace_settings() {
        None => Ok(ccp_telemetry::Telemetry::metrics_only()),
        Some(settings) => {
            let t = ccp_telemetry::Telemetry::with_traces(&settings)?;
            tracing::info!(
                collector = %settings.collector(),
                protocol = settings.protocol.as_str(),
                sample_ratio = settings.sample_ratio,
                capture_content = settings.capture_content,
                "exporting traces over OTLP"
            );
            Ok(t)
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}

/// Replaces the default panic hook, which prints the raw panic message to stderr, with one that
/// logs it with every configured key redacted (the edge still answers the request with a 500).
fn install_redacting_panic_hook(redactor: ccp_gateway::redact::Redactor) {
    std::panic::set_hook(Box::new(move |info| {
        let payload = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".to_owned());
        let location = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        tracing::error!(
            panic = %redactor.redact(&payload),
            %location,
            "a task panicked (the request was answered with 500; the proxy keeps serving)"
        );
    }));
}
