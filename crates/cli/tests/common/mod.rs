//! Runs the built `codex-convert-proxy` binary as a child process for end-to-end tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ccp_testkit::locate::TempDir;
use serde_json::{json, Value};

pub const UPSTREAM_KEY: &str = "sk-upstream-e2e-SECRET-4242";
pub const CLIENT_KEY: &str = "sk-client-e2e-SECRET-2424";

/// A running proxy process; killed on drop.
pub struct Proxy {
    pub child: Child,
    pub addr: String,
    pub dir: TempDir,
}

impl Proxy {
    /// Starts the binary with `config` (its `listen`, `log_dir` and `data_dir` are filled in
    /// when absent: each proxy gets its own store in its temporary directory).
    // The child moves into `Proxy`, whose `Drop` kills and waits on it.
    #[allow(clippy::zombie_processes)]
    pub fn start(mut config: Value) -> Proxy {
        let dir = TempDir::new("ccp-e2e");
        config["listen"] = json!("127.0.0.1:0");
        if config.get("log_dir").is_none() {
            config["log_dir"] = json!(dir.join("logs").to_string_lossy());
        }
        if config.get("data_dir").is_none() && config.get("storage").is_none() {
            config["data_dir"] = json!(dir.join("data").to_string_lossy());
        }
        let path = dir.join("config.json");
        std::fs::write(&path, serde_json::to_vec_pretty(&config).unwrap()).unwrap();
        let stderr = std::fs::File::create(dir.join("stderr.log")).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_codex-convert-proxy"))
            .arg("--config")
            .arg(&path)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("spawn codex-convert-proxy");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let log = std::fs::read_to_string(dir.join("stderr.log")).unwrap_or_default();
            let log = strip_ansi(&log);
            if let Some(addr) = log
                .lines()
                .find(|l| l.contains("listening"))
                .and_then(|l| l.split_whitespace().find_map(|w| w.strip_prefix("listen=")))
            {
                return Proxy {
                    child,
                    addr: addr.to_owned(),
                    dir,
                };
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("proxy did not start; stderr:\n{log}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `http://ADDR` + path.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Everything the process logged (stderr and the log files).
    pub fn all_logs(&self) -> String {
        let mut out = std::fs::read_to_string(self.dir.join("stderr.log")).unwrap_or_default();
        for f in ["codex-convert-proxy.log", "error.log"] {
            out.push_str(
                &std::fs::read_to_string(self.dir.join("logs").join(f)).unwrap_or_default(),
            );
        }
        out
    }

    pub fn log_dir(&self) -> PathBuf {
        self.dir.join("logs")
    }

    /// Panics if a test key appears anywhere in the proxy's logs.
    pub fn assert_no_keys_in_logs(&self) {
        let logs = self.all_logs();
        for key in [UPSTREAM_KEY, CLIENT_KEY] {
            assert!(
                !logs.contains(key),
                "key {key} found in the proxy logs:\n{logs}"
            );
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // Every end-to-end test doubles as a key-leak scan of everything the proxy logged.
        if !std::thread::panicking() {
            self.assert_no_keys_in_logs();
        }
    }
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for n in chars.by_ref() {
                if n.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// A config with one openai backend at `upstream_url` (default route).
pub fn one_backend(upstream_url: &str, model: &str) -> Value {
    json!({
        "backends": [{
            "name": "main", "url": upstream_url, "api_key": UPSTREAM_KEY, "model": model,
            "protocol": "openai", "match_rules": {"default": true}
        }]
    })
}

/// A minimal Codex model catalog entry that turns on the freeform apply_patch tool.
pub fn freeform_catalog(model: &str) -> Value {
    json!({"models": [{
        "slug": model,
        "display_name": model,
        "description": "test model behind codex-convert-proxy",
        "base_instructions": "You are a coding agent running in the Codex CLI. Use the tools to act on the workspace.",
        "supported_reasoning_levels": [{"effort": "medium", "description": "medium"}],
        "default_reasoning_level": "medium",
        "shell_type": "default",
        "visibility": "list",
        "supported_in_api": true,
        "priority": 1,
        "availability_nux": null,
        "upgrade": null,
        "support_verbosity": false,
        "default_verbosity": null,
        "apply_patch_tool_type": "freeform",
        "truncation_policy": {"mode": "bytes", "limit": 10000},
        "supports_parallel_tool_calls": true,
        "context_window": 128000,
        "experimental_supported_tools": [],
        "input_modalities": ["text", "image"]
    }]})
}
