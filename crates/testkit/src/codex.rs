//! `CodexRun`: drive the real Codex CLI (`codex exec`) against a base URL, fully offline.
//!
//! Each `CodexRun` owns a throwaway root with `codex-home/` (CODEX_HOME with a generated
//! `config.toml`), `home/` (HOME) and `work/` (the `-C` working root), so runs never touch the
//! developer's own Codex setup and `exec resume --last` can continue a session. The child gets a
//! cleared environment (no proxy variables or real API keys leak in), runs in its own process
//! group, and is killed with its children when the timeout expires.
//!
//! The config follows `codex-wire.md` §7–8: a custom provider with `wire_api = "responses"` whose
//! key comes from `CODEX_PROXY_KEY` (as in the README), analytics and plugins off, web search
//! disabled. Retries default to 0 so a scripted upstream sees exactly the requests a test expects.

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::AsyncReadExt;
use tokio::process::Command;

use crate::locate::{codex_binary, TempDir};

/// Env var the generated provider config reads the client key from: the name the README and
/// `codex-config` use, so the tests run Codex the way users are told to.
pub const CLIENT_KEY_ENV: &str = "CODEX_PROXY_KEY";
/// The client key `CodexRun` puts in [`CLIENT_KEY_ENV`] by default.
pub const DEFAULT_CLIENT_KEY: &str = "sk-client-test";

/// Builder and runner for one Codex CLI session.
#[derive(Debug)]
pub struct CodexRun {
    base_url: String,
    model: String,
    json: bool,
    strict_config: bool,
    request_max_retries: u64,
    stream_max_retries: u64,
    stream_idle_timeout_ms: Option<u64>,
    supports_websockets: Option<bool>,
    model_catalog: Option<Value>,
    extra_toml: Vec<String>,
    extra_args: Vec<String>,
    images: Vec<PathBuf>,
    env: Vec<(String, String)>,
    client_key: String,
    chatgpt_login: bool,
    key_from_command: bool,
    timeout: Duration,
    root: TempDir,
}

/// What a finished (or killed) `codex` process left behind.
#[derive(Debug, Clone)]
pub struct CodexOutput {
    /// Exit status (a signal status after a timeout kill).
    pub status: ExitStatus,
    /// Everything written to stdout (JSONL with `--json`).
    pub stdout: String,
    /// Everything written to stderr (progress, `ERROR: …` lines).
    pub stderr: String,
    /// Whether the timeout expired and the process was killed.
    pub timed_out: bool,
    /// Wall time until exit or kill.
    pub elapsed: Duration,
}

impl CodexOutput {
    /// Exited 0 within the timeout.
    pub fn success(&self) -> bool {
        self.status.success() && !self.timed_out
    }

    /// Panics with the full output unless [`CodexOutput::success`].
    #[track_caller]
    pub fn assert_success(&self) -> &Self {
        assert!(
            self.success(),
            "codex exec failed ({}): \n{}",
            self.describe_status(),
            self.dump()
        );
        self
    }

    /// Stdout and stderr, labelled, for assertion messages.
    pub fn dump(&self) -> String {
        format!(
            "--- stdout ---\n{}\n--- stderr ---\n{}",
            self.stdout, self.stderr
        )
    }

    fn describe_status(&self) -> String {
        if self.timed_out {
            format!("timed out after {:?}", self.elapsed)
        } else {
            self.status.to_string()
        }
    }

    /// The `--json` events (stdout lines that are JSON objects).
    pub fn events(&self) -> Vec<Value> {
        self.stdout
            .lines()
            .filter_map(|line| serde_json::from_str::<Value>(line.trim()).ok())
            .filter(Value::is_object)
            .collect()
    }

    /// Texts of completed `agent_message` items (`--json` mode).
    pub fn agent_messages(&self) -> Vec<String> {
        self.completed_items("agent_message")
            .iter()
            .filter_map(|item| item.get("text").and_then(Value::as_str))
            .map(str::to_owned)
            .collect()
    }

    /// Completed items of one type (`agent_message`, `command_execution`, `reasoning`, `error`…).
    pub fn completed_items(&self, kind: &str) -> Vec<Value> {
        self.events()
            .into_iter()
            .filter(|e| e.get("type").and_then(Value::as_str) == Some("item.completed"))
            .filter_map(|e| e.get("item").cloned())
            .filter(|item| item.get("type").and_then(Value::as_str) == Some(kind))
            .collect()
    }
}

impl CodexRun {
    /// A run against `base_url` (e.g. `http://127.0.0.1:PORT/v1`) with model `mock-model`,
    /// `--json`, no retries and a 120 s timeout.
    pub fn new(base_url: impl Into<String>) -> CodexRun {
        let root = TempDir::new("codex");
        for sub in ["codex-home", "home", "work"] {
            std::fs::create_dir_all(root.join(sub)).unwrap_or_else(|e| {
                panic!("cannot create {sub} in {}: {e}", root.path().display())
            });
        }
        CodexRun {
            base_url: base_url.into(),
            model: "mock-model".to_owned(),
            json: true,
            strict_config: true,
            request_max_retries: 0,
            stream_max_retries: 0,
            stream_idle_timeout_ms: None,
            supports_websockets: None,
            model_catalog: None,
            extra_toml: Vec::new(),
            extra_args: Vec::new(),
            images: Vec::new(),
            env: Vec::new(),
            client_key: DEFAULT_CLIENT_KEY.to_owned(),
            chatgpt_login: false,
            key_from_command: false,
            timeout: Duration::from_secs(120),
            root,
        }
    }

    /// `model = "<model>"`.
    pub fn model(mut self, model: &str) -> Self {
        self.model = model.to_owned();
        self
    }

    /// Pass `--json` (default on): JSONL events on stdout.
    pub fn json(mut self, on: bool) -> Self {
        self.json = on;
        self
    }

    /// Pass `--strict-config` (default on) so config typos fail loudly.
    pub fn strict_config(mut self, on: bool) -> Self {
        self.strict_config = on;
        self
    }

    /// `request_max_retries` (transport retries; default 0 here, 4 in Codex).
    pub fn request_max_retries(mut self, n: u64) -> Self {
        self.request_max_retries = n;
        self
    }

    /// `stream_max_retries` (turn retries; default 0 here, 5 in Codex).
    pub fn stream_max_retries(mut self, n: u64) -> Self {
        self.stream_max_retries = n;
        self
    }

    /// `stream_idle_timeout_ms`.
    pub fn stream_idle_timeout_ms(mut self, ms: u64) -> Self {
        self.stream_idle_timeout_ms = Some(ms);
        self
    }

    /// `supports_websockets`.
    pub fn supports_websockets(mut self, on: bool) -> Self {
        self.supports_websockets = Some(on);
        self
    }

    /// Writes `catalog` to `codex-home/model-catalog.json` and sets `model_catalog_json`.
    pub fn model_catalog_json(mut self, catalog: Value) -> Self {
        self.model_catalog = Some(catalog);
        self
    }

    /// A raw TOML line, placed after the top-level keys and before the first table (so it may
    /// set a top-level key or open a table of its own).
    pub fn extra_toml(mut self, line: &str) -> Self {
        self.extra_toml.push(line.to_owned());
        self
    }

    /// An extra `codex exec` argument, placed before the prompt.
    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.extra_args.push(arg.into());
        self
    }

    /// Attach an image (`-i FILE`, placed after the prompt as Codex requires).
    pub fn image(mut self, path: impl Into<PathBuf>) -> Self {
        self.images.push(path.into());
        self
    }

    /// An extra environment variable for the child (e.g. `RUST_LOG`).
    pub fn env(mut self, name: &str, value: &str) -> Self {
        self.env.push((name.to_owned(), value.to_owned()));
        self
    }

    /// The key put in [`CLIENT_KEY_ENV`] (default `sk-client-test`).
    pub fn client_key(mut self, key: &str) -> Self {
        self.client_key = key.to_owned();
        self
    }

    /// Authenticate the provider with the ChatGPT login in `CODEX_HOME/auth.json`
    /// (`requires_openai_auth = true`) instead of the client key: Codex then sends the access
    /// token and `ChatGPT-Account-ID`, and refreshes on a 401 (point
    /// `CODEX_REFRESH_TOKEN_URL_OVERRIDE` at a [`TokenEndpoint`](crate::TokenEndpoint) with
    /// [`CodexRun::env`]). Write the file with [`write_auth_json`](crate::write_auth_json).
    pub fn chatgpt_login(mut self, on: bool) -> Self {
        self.chatgpt_login = on;
        self
    }

    /// Give the provider the client key through a command (`auth = {command = "echo", …}`)
    /// instead of `env_key`. Codex then also fetches `GET {base_url}/models` (codex-wire.md §6)
    /// and re-runs the command after a 401.
    pub fn key_from_command(mut self, on: bool) -> Self {
        self.key_from_command = on;
        self
    }

    /// Kill the process after this long (default 120 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// CODEX_HOME.
    pub fn codex_home(&self) -> PathBuf {
        self.root.join("codex-home")
    }

    /// The `-C` working root (put fixture files here).
    pub fn workdir(&self) -> PathBuf {
        self.root.join("work")
    }

    /// The generated `config.toml` text.
    pub fn config_toml(&self) -> String {
        let mut lines = vec![
            format!("model = {}", toml_str(&self.model)),
            "model_provider = \"proxy\"".to_owned(),
            "web_search = \"disabled\"".to_owned(),
        ];
        if self.model_catalog.is_some() {
            let path = self.codex_home().join("model-catalog.json");
            lines.push(format!(
                "model_catalog_json = {}",
                toml_str(&path.to_string_lossy())
            ));
        }
        lines.extend(self.extra_toml.iter().cloned());
        lines.extend([
            String::new(),
            "[analytics]".to_owned(),
            "enabled = false".to_owned(),
            String::new(),
            "[features]".to_owned(),
            "plugins = false".to_owned(),
            String::new(),
            "[model_providers.proxy]".to_owned(),
            "name = \"Proxy\"".to_owned(),
            format!("base_url = {}", toml_str(&self.base_url)),
            if self.chatgpt_login {
                "requires_openai_auth = true".to_owned()
            } else if self.key_from_command {
                format!(
                    "auth = {{ command = \"echo\", args = [{}] }}",
                    toml_str(&self.client_key)
                )
            } else {
                format!("env_key = {}", toml_str(CLIENT_KEY_ENV))
            },
            "wire_api = \"responses\"".to_owned(),
            format!("request_max_retries = {}", self.request_max_retries),
            format!("stream_max_retries = {}", self.stream_max_retries),
        ]);
        if let Some(ms) = self.stream_idle_timeout_ms {
            lines.push(format!("stream_idle_timeout_ms = {ms}"));
        }
        if let Some(on) = self.supports_websockets {
            lines.push(format!("supports_websockets = {on}"));
        }
        lines.push(String::new());
        lines.join("\n")
    }

    /// Writes `config.toml` (and the model catalog, if any) into CODEX_HOME.
    pub fn write_config(&self) {
        let home = self.codex_home();
        if let Some(catalog) = &self.model_catalog {
            let path = home.join("model-catalog.json");
            std::fs::write(&path, catalog.to_string())
                .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        }
        let path = home.join("config.toml");
        std::fs::write(&path, self.config_toml())
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    }

    fn common_flags(&self) -> Vec<String> {
        let mut args: Vec<String> = [
            "--skip-git-repo-check",
            "--dangerously-bypass-approvals-and-sandbox",
            "--disable",
            "unbounded_connection_retries",
            "-c",
            "analytics.enabled=false",
            "--disable",
            "plugins",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        if self.strict_config {
            args.push("--strict-config".to_owned());
        }
        args.push("-C".to_owned());
        args.push(self.workdir().to_string_lossy().into_owned());
        if self.json {
            args.push("--json".to_owned());
        }
        args.extend(self.extra_args.iter().cloned());
        args
    }

    fn image_args(&self) -> Vec<String> {
        self.images
            .iter()
            .flat_map(|p| ["-i".to_owned(), p.to_string_lossy().into_owned()])
            .collect()
    }

    /// `codex exec <flags> <prompt>`.
    pub async fn exec(&self, prompt: &str) -> CodexOutput {
        let mut args = vec!["exec".to_owned()];
        args.extend(self.common_flags());
        args.push(prompt.to_owned());
        args.extend(self.image_args());
        self.run_raw(&args).await
    }

    /// `codex exec <flags> resume --last <prompt>`: continue the newest session of this run.
    pub async fn resume_last(&self, prompt: &str) -> CodexOutput {
        let mut args = vec!["exec".to_owned()];
        args.extend(self.common_flags());
        args.extend(["resume".to_owned(), "--last".to_owned(), prompt.to_owned()]);
        args.extend(self.image_args());
        self.run_raw(&args).await
    }

    /// Runs the Codex binary with exactly `args` (config written, environment prepared).
    pub async fn run_raw(&self, args: &[String]) -> CodexOutput {
        self.write_config();
        run_with_timeout(&codex_binary(), args, &self.child_env(), self.timeout).await
    }

    fn child_env(&self) -> Vec<(String, String)> {
        let mut env = vec![
            ("PATH".to_owned(), std::env::var("PATH").unwrap_or_default()),
            (
                "HOME".to_owned(),
                self.root.join("home").to_string_lossy().into_owned(),
            ),
            (
                "CODEX_HOME".to_owned(),
                self.codex_home().to_string_lossy().into_owned(),
            ),
            (CLIENT_KEY_ENV.to_owned(), self.client_key.clone()),
            ("LANG".to_owned(), "C.UTF-8".to_owned()),
            ("NO_COLOR".to_owned(), "1".to_owned()),
        ];
        env.extend(self.env.iter().cloned());
        env
    }
}

/// TOML basic string (JSON string escapes are a subset of TOML's).
fn toml_str(s: &str) -> String {
    Value::String(s.to_owned()).to_string()
}

async fn run_with_timeout(
    program: &Path,
    args: &[String],
    env: &[(String, String)],
    timeout: Duration,
) -> CodexOutput {
    let started = Instant::now();
    let mut child = Command::new(program)
        .args(args)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", program.display()));
    let stdout = child.stdout.take().map(drain);
    let stderr = child.stderr.take().map(drain);
    let (status, timed_out) = match tokio::time::timeout(timeout, child.wait()).await {
        Ok(status) => (
            status.unwrap_or_else(|e| panic!("waiting for codex: {e}")),
            false,
        ),
        Err(_) => {
            if let Some(pid) = child.id() {
                // Kill the whole group: Codex may have spawned shell commands.
                let _ = std::process::Command::new("kill")
                    .args(["-KILL", "--", &format!("-{pid}")])
                    .status();
            }
            let _ = child.kill().await;
            let status = child
                .wait()
                .await
                .unwrap_or_else(|e| panic!("waiting for killed codex: {e}"));
            (status, true)
        }
    };
    let elapsed = started.elapsed();
    CodexOutput {
        status,
        stdout: collect(stdout).await,
        stderr: collect(stderr).await,
        timed_out,
        elapsed,
    }
}

fn drain<R>(mut reader: R) -> tokio::task::JoinHandle<Vec<u8>>
where
    R: tokio::io::AsyncRead + Unpin + Send + 'static,
{
    tokio::spawn(async move {
        let mut buf = Vec::new();
        let _ = reader.read_to_end(&mut buf).await;
        buf
    })
}

/// Joins a drain task; a grandchild holding the pipe open must not hang the test forever.
async fn collect(task: Option<tokio::task::JoinHandle<Vec<u8>>>) -> String {
    let Some(task) = task else {
        return String::new();
    };
    match tokio::time::timeout(Duration::from_secs(5), task).await {
        Ok(Ok(bytes)) => String::from_utf8_lossy(&bytes).into_owned(),
        _ => "<output not collected: pipe still open 5 s after exit>".to_owned(),
    }
}
