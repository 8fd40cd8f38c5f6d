//! `codex-convert-proxy doctor`: finds what stands between Codex and a working proxy.
//!
//! Three groups of checks, each reported as one [`Check`] with a fix:
//! 1. the proxy config itself (`config`), validated exactly as `--check-config` does;
//! 2. every non-mock backend (`backend.<name>`): DNS, TCP, TLS, then one tiny chat request,
//!    classified as unreachable / TLS failure / wrong path / wrong key / protocol mismatch /
//!    model not found / OK (`backend`);
//! 3. the Codex `config.toml` (`codex.*`): provider tables Codex rejects or ignores, base URLs
//!    that compose to the wrong path, unset `env_key` variables, WebSocket support, and whether
//!    each provider actually reaches this proxy (`codex`).
//!
//! Invariants: no key value is ever printed — messages name environment variables only, and
//! text quoted from upstream answers passes through a redactor that knows every key. Status
//! `warn` is advisory (something could not be checked, concerns a provider that is not used
//! for this proxy, or a backend whose optional `${VAR:-}` key is unset); the exit code is 0
//! exactly when no check has status `fail`.

mod anthropic;
mod backend;
mod codex;
mod kinds;
mod net;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use ccp_gateway::config::Config;
use ccp_gateway::redact::Redactor;
use serde::Serialize;

/// Flags of `doctor`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print `{"ok":bool,"checks":[…]}` instead of one line per check.
    #[arg(long)]
    pub json: bool,
    /// Codex home directory holding config.toml (default: $CODEX_HOME, else ~/.codex).
    #[arg(long, value_name = "DIR")]
    pub codex_home: Option<PathBuf>,
    /// Skip every network probe (backends, /health, WebSocket); only static checks run.
    #[arg(long)]
    pub no_probe: bool,
    /// URL of this proxy, without /v1 (default: derived from `listen`).
    #[arg(long, value_name = "URL")]
    pub proxy_url: Option<String>,
}

/// Outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Warn,
    Fail,
}

impl Status {
    fn symbol(self) -> &'static str {
        match self {
            Status::Ok => "✓",
            Status::Warn => "!",
            Status::Fail => "✗",
        }
    }
}

/// One line of the report.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub id: String,
    pub status: Status,
    pub message: String,
    /// What to do about it; `None` for passing checks.
    pub fix: Option<String>,
}

impl Check {
    pub fn ok(id: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            status: Status::Ok,
            message: message.into(),
            fix: None,
        }
    }

    pub fn warn(id: impl Into<String>, message: impl Into<String>, fix: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            status: Status::Warn,
            message: message.into(),
            fix: Some(fix.into()),
        }
    }

    pub fn fail(id: impl Into<String>, message: impl Into<String>, fix: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            status: Status::Fail,
            message: message.into(),
            fix: Some(fix.into()),
        }
    }
}

/// Settings shared by the check groups.
pub struct Context {
    /// `None` when the proxy config is invalid.
    pub config: Option<Config>,
    pub proxy_url: String,
    pub probe: bool,
    pub redactor: Redactor,
}

/// Runs every check and prints the report; exit 0 when nothing failed, 1 otherwise.
pub fn run(config_path: &Path, args: Args) -> ExitCode {
    let runtime = match crate::runtime(Some(2)) {
        Ok(r) => r,
        Err(code) => return code,
    };
    let checks = runtime.block_on(collect(config_path, &args));
    let ok = checks.iter().all(|c| c.status != Status::Fail);
    if args.json {
        let report = serde_json::json!({ "ok": ok, "checks": checks });
        match serde_json::to_string_pretty(&report) {
            Ok(s) => println!("{s}"),
            Err(e) => eprintln!("could not print the report: {e}"),
        }
    } else {
        print_human(&checks);
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

async fn collect(config_path: &Path, args: &Args) -> Vec<Check> {
    let mut checks = Vec::new();
    let config = match ccp_gateway::config::load(config_path) {
        Ok(cfg) => {
            checks.push(Check::ok(
                "config",
                format!(
                    "{} is valid ({} backend(s))",
                    config_path.display(),
                    cfg.backends.len()
                ),
            ));
            Some(cfg)
        }
        Err(errors) => {
            if !args.json {
                eprintln!("{}: invalid config", config_path.display());
                eprintln!("{errors}");
            }
            checks.push(Check::fail(
                "config",
                format!("{}: invalid config\n{errors}", config_path.display()),
                "fix the problems listed (each names its JSON path), then re-run `codex-convert-proxy --check-config`",
            ));
            None
        }
    };
    let proxy_url = match args.proxy_url.as_deref() {
        Some(url) => match crate::codex_config::normalize_proxy_url(url) {
            Ok((url, _)) => url,
            Err(e) => {
                checks.push(Check::fail(
                    "proxy_url",
                    e,
                    "pass --proxy-url http://HOST:PORT",
                ));
                return checks;
            }
        },
        None => {
            let listen = config
                .as_ref()
                .map(|c| c.listen)
                .unwrap_or_else(|| std::net::SocketAddr::from(([127, 0, 0, 1], 8280)));
            crate::codex_config::proxy_url_from_listen(&listen)
        }
    };
    let codex_home = args
        .codex_home
        .clone()
        .map(Ok)
        .unwrap_or_else(crate::codex_config::default_codex_home);
    let codex_file = codex_home.map(|home| home.join("config.toml"));
    let codex_table = match &codex_file {
        Ok(path) => codex::read(path),
        Err(_) => codex::CodexFile::Missing,
    };
    let redactor = Redactor::new(secrets(config.as_ref(), &codex_table));
    let ctx = Context {
        config,
        proxy_url,
        probe: !args.no_probe,
        redactor,
    };
    if let Some(cfg) = &ctx.config {
        if ctx.probe {
            checks.extend(backend::probe_all(cfg, &ctx.redactor).await);
        }
    }
    match codex_file {
        Ok(path) => checks.extend(codex::check(&ctx, &path, &codex_table).await),
        Err(e) => checks.push(Check::warn("codex.config", e, "pass --codex-home DIR")),
    }
    if !ctx.probe {
        checks.push(Check::warn(
            "probe",
            "network probes skipped (--no-probe): backends, /health and WebSocket were not contacted",
            "run `codex-convert-proxy doctor` without --no-probe to test connectivity",
        ));
    }
    checks
}

/// Every secret doctor could come across: backend keys, client keys, and the values of the
/// Codex `env_key` variables.
fn secrets(config: Option<&Config>, codex: &codex::CodexFile) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(cfg) = config {
        out.extend(
            cfg.backends
                .iter()
                .filter_map(|b| b.api_key.as_ref())
                .map(|k| k.expose().to_owned()),
        );
        out.extend(cfg.client_keys.iter().map(|k| k.expose().to_owned()));
    }
    for var in codex.env_keys() {
        if let Ok(v) = std::env::var(&var) {
            out.push(v);
        }
    }
    out
}

fn print_human(checks: &[Check]) {
    for c in checks {
        let mut lines = c.message.lines();
        let first = lines.next().unwrap_or_default();
        println!("{} {}: {first}", c.status.symbol(), c.id);
        for more in lines {
            println!("    {more}");
        }
        if c.status != Status::Ok {
            if let Some(fix) = &c.fix {
                println!("    fix: {fix}");
            }
        }
    }
    let failed = checks.iter().filter(|c| c.status == Status::Fail).count();
    let warned = checks.iter().filter(|c| c.status == Status::Warn).count();
    if failed == 0 {
        println!("no problems found ({warned} warning(s))");
    } else {
        println!("{failed} problem(s) found, {warned} warning(s)");
    }
}

/// Shortens text quoted from a server and hides anything secret in it.
pub fn quote(redactor: &Redactor, text: &str) -> String {
    let redacted = redactor.redact(text.trim());
    let one_line: String = redacted.split_whitespace().collect::<Vec<_>>().join(" ");
    let masked = mask_key_like(&one_line);
    if masked.chars().count() > 240 {
        let cut: String = masked.chars().take(240).collect();
        format!("{cut}…")
    } else {
        masked
    }
}

/// Masks words that look like API keys (`sk-…`) even when they are not configured ones:
/// some providers echo part of a rejected key.
fn mask_key_like(text: &str) -> String {
    text.split(' ')
        .map(|word| {
            let bare =
                word.trim_matches(|c: char| !c.is_ascii_alphanumeric() && c != '-' && c != '_');
            if bare.len() >= 12 && (bare.starts_with("sk-") || bare.starts_with("sk_")) {
                word.replace(bare, "sk-[REDACTED]")
            } else {
                word.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quote_hides_configured_and_key_like_secrets() {
        let r = Redactor::new(["supersecretvalue".to_owned()]);
        let q = quote(&r, "bad key supersecretvalue and sk-abcdefghijklmnop.");
        assert!(!q.contains("supersecretvalue"), "{q}");
        assert!(!q.contains("abcdefghijklmnop"), "{q}");
    }

    #[test]
    fn quote_shortens_long_text() {
        let q = quote(&Redactor::default(), &"x".repeat(1000));
        assert!(q.chars().count() < 300);
    }
}
