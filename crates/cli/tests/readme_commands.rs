//! The README, followed to the letter (issue 17): every command of its ```sh blocks runs as
//! written with the built binary standing in for the installed one; the real Codex CLI then
//! prints the mock's answer through that proxy, with the config `codex-config --write` wrote and
//! with the README's hand-written snippet; the snippet passes `doctor`; the example config loads.
//!
//! `codex-convert-proxy …` lines run through `sh -c` exactly as written, in README order, with
//! the built binary first on `PATH`, in a directory holding a copy of `config.example.json`
//! (so `./logs` is not written into the repository) and with `CODEX_HOME` in a temporary
//! directory; the proxy started by the serve command keeps running (on the README's port, 8280)
//! while the later commands run, as it would for a reader. `cargo` and `bash .ci/run` lines are
//! too slow to run here: they are checked for what they name (package, binary, script). A README
//! command of any other shape fails the test until it is covered here.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use ccp_testkit::locate::{codex_binary, TempDir};

const BIN: &str = env!("CARGO_BIN_EXE_codex-convert-proxy");
const BIN_NAME: &str = "codex-convert-proxy";
/// The optional keys of `config.example.json`: unset, as on a fresh machine.
const EXAMPLE_KEY_VARS: [&str; 3] = ["GLM_API_KEY", "KIMI_API_KEY", "DEEPSEEK_API_KEY"];

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn readme() -> String {
    std::fs::read_to_string(repo_root().join("README.md")).unwrap()
}

/// The bodies of the README's fenced blocks tagged `lang`, in order.
fn blocks(text: &str, lang: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        match &mut current {
            None if line.trim() == format!("```{lang}") => current = Some(String::new()),
            None => {}
            Some(_) if line.trim() == "```" => out.extend(current.take()),
            Some(body) => {
                body.push_str(line);
                body.push('\n');
            }
        }
    }
    out
}

/// The commands of the README's ```sh blocks: one per line, `\` continuations joined, comment
/// lines dropped.
fn readme_commands() -> Vec<String> {
    let mut out = Vec::new();
    for block in blocks(&readme(), "sh") {
        let mut pending = String::new();
        for line in block.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            match line.strip_suffix('\\') {
                Some(part) => pending.push_str(part),
                None => {
                    pending.push_str(line);
                    out.push(std::mem::take(&mut pending));
                }
            }
        }
    }
    out
}

/// The words of a command before any `#` comment.
fn words(command: &str) -> Vec<&str> {
    command
        .split_whitespace()
        .take_while(|w| !w.starts_with('#'))
        .collect()
}

/// The reader's shell: the built binary on `PATH`, a working directory with the example config,
/// `CODEX_HOME` in a temporary directory, and the client key variable the README exports.
struct Shell {
    dir: TempDir,
    path: String,
}

impl Shell {
    fn new() -> Shell {
        let dir = TempDir::new("ccp-readme");
        let bin_dir = dir.join("bin");
        std::fs::create_dir_all(&bin_dir).unwrap();
        std::os::unix::fs::symlink(BIN, bin_dir.join(BIN_NAME)).unwrap();
        std::fs::create_dir_all(dir.join("work")).unwrap();
        std::fs::copy(
            repo_root().join("config.example.json"),
            dir.join("work/config.example.json"),
        )
        .unwrap();
        let path = format!(
            "{}:{}",
            bin_dir.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        Shell { dir, path }
    }

    fn codex_home(&self) -> PathBuf {
        self.dir.join("codex")
    }

    fn command(&self, line: &str) -> Command {
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(line)
            .current_dir(self.dir.join("work"))
            .env("PATH", &self.path)
            .env("CODEX_HOME", self.codex_home())
            .env("CODEX_PROXY_KEY", "anything")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null());
        for var in EXAMPLE_KEY_VARS {
            cmd.env_remove(var);
        }
        cmd
    }

    fn run(&self, line: &str) -> Output {
        self.command(line).output().unwrap()
    }

    /// Starts a command that serves until killed; returns once it logs that it listens.
    fn serve(&self, line: &str) -> Served {
        let stderr_path = self.dir.join("serve-stderr.log");
        let child = self
            .command(&format!("exec {line}"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&stderr_path).unwrap())
            .spawn()
            .unwrap();
        let mut served = Served { child };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let stderr = std::fs::read_to_string(&stderr_path).unwrap_or_default();
            if stderr.contains("codex-convert-proxy listening") {
                return served;
            }
            if let Ok(Some(status)) = served.child.try_wait() {
                panic!(
                    "`{line}` exited with {status} instead of serving (is port 8280 in use?):\n{stderr}"
                );
            }
            assert!(
                Instant::now() < deadline,
                "`{line}` did not start:\n{stderr}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// A serving child process; killed on drop.
struct Served {
    child: Child,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `cargo install --locked --path crates/cli` installs a binary called `codex-convert-proxy`,
/// the name every later command uses.
fn check_cargo_install(words: &[&str]) {
    let path = words
        .iter()
        .position(|w| *w == "--path")
        .and_then(|i| words.get(i + 1))
        .unwrap_or_else(|| panic!("`{}`: cargo install without --path", words.join(" ")));
    let manifest = std::fs::read_to_string(repo_root().join(path).join("Cargo.toml"))
        .unwrap_or_else(|e| panic!("{path}/Cargo.toml: {e}"));
    assert!(
        manifest.contains(&format!("[[bin]]\nname = \"{BIN_NAME}\"")),
        "{path} does not build a binary named {BIN_NAME}"
    );
    assert!(
        words.contains(&"--locked"),
        "cargo install without --locked ignores Cargo.lock"
    );
}

/// `cargo run --release -p <package> -- <args>`: the package builds this binary; returns the
/// command it runs (`<binary> <args>`), which the test then runs like any README command.
fn cargo_run_as_binary(words: &[&str]) -> String {
    let package = words
        .iter()
        .position(|w| *w == "-p")
        .and_then(|i| words.get(i + 1))
        .unwrap_or_else(|| panic!("`{}`: cargo run without -p", words.join(" ")));
    assert_eq!(*package, BIN_NAME, "the cli package is {BIN_NAME}");
    let args = words
        .iter()
        .position(|w| *w == "--")
        .map(|i| words[i + 1..].join(" "))
        .unwrap_or_default();
    format!("{BIN_NAME} {args}")
}

#[test]
fn every_readme_shell_command_runs_as_written() {
    let commands = readme_commands();
    let shell = Shell::new();
    let mut served = None;
    for command in &commands {
        // `cargo run … -- <args>` runs the built binary with those args.
        let command = match words(command).as_slice() {
            ["cargo", "run", ..] => cargo_run_as_binary(&words(command)),
            _ => command.clone(),
        };
        let command = &command;
        let w = words(command);
        match w.as_slice() {
            ["cargo", "install", ..] => check_cargo_install(&w),
            ["bash", script] => assert!(
                repo_root().join(script).is_file(),
                "`{command}`: no {script}"
            ),
            // The serve command: the one without a subcommand or a flag that exits.
            [BIN_NAME, "--config", _] => {
                assert!(served.is_none(), "two serve commands: {commands:?}");
                served = Some(shell.serve(command));
            }
            [BIN_NAME, ..] => {
                let out = shell.run(command);
                let text = text(&out);
                assert_eq!(out.status.code(), Some(0), "`{command}`:\n{text}");
                check_output(&w, &text, &shell);
            }
            _ => panic!("README command `{command}` is not covered by readme_commands.rs"),
        }
    }
    assert!(served.is_some(), "no README command starts the proxy");
    // Set-up (install, serve, test suite), codex-config twice, doctor, --check-config.
    assert!(commands.len() >= 7, "{commands:?}");

    // The real Codex CLI prints the mock's answer through the proxy still serving, with the
    // config `codex-config --write` wrote and with the README's hand-written snippet.
    let said = codex_says(&shell, &shell.codex_home());
    assert!(
        said.contains(MOCK_ANSWER),
        "with the written config:\n{said}"
    );
    let snippet_home = shell.dir.join("codex-snippet");
    std::fs::create_dir_all(&snippet_home).unwrap();
    std::fs::write(snippet_home.join("config.toml"), readme_codex_snippet()).unwrap();
    let said = codex_says(&shell, &snippet_home);
    assert!(
        said.contains(MOCK_ANSWER),
        "with the README snippet:\n{said}"
    );
}

/// The start of every answer of the built-in mock backend.
const MOCK_ANSWER: &str = "Hello from the codex-convert-proxy mock backend";

/// `codex exec` with `codex_home` and the client key variable the README exports; its output.
fn codex_says(shell: &Shell, codex_home: &Path) -> String {
    let home = shell.dir.join("home");
    std::fs::create_dir_all(&home).unwrap();
    let mut child = Command::new(codex_binary())
        .args([
            "exec",
            "--skip-git-repo-check",
            "-c",
            "analytics.enabled=false",
        ])
        .args(["--disable", "plugins", "-C"])
        .arg(shell.dir.join("work"))
        .arg("Say hello.")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", &home)
        .env("CODEX_HOME", codex_home)
        .env("CODEX_PROXY_KEY", "anything")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    text(&child.wait_with_output().unwrap())
}

/// The `~/.codex/config.toml` block of "Point Codex at it".
fn readme_codex_snippet() -> String {
    let readme = readme();
    let (_, section) = readme.split_once("## Point Codex at it").unwrap();
    blocks(section, "toml").into_iter().next().unwrap()
}

/// What each kind of command must have done, beyond exiting 0.
fn check_output(words: &[&str], text: &str, shell: &Shell) {
    if words.contains(&"--check-config") {
        assert!(text.contains("config.example.json: OK"), "{text}");
    } else if words.contains(&"codex-config") && words.contains(&"--write") {
        let written = std::fs::read_to_string(shell.codex_home().join("config.toml")).unwrap();
        assert!(
            written.contains("env_key = \"CODEX_PROXY_KEY\""),
            "{written}"
        );
    } else if words.contains(&"codex-config") {
        assert!(text.contains("env_key = \"CODEX_PROXY_KEY\""), "{text}");
    } else if words.contains(&"doctor") {
        // Against the proxy the serve command started and the Codex config just written.
        assert!(text.contains("no problems found"), "{text}");
        assert!(
            text.contains("✓ codex.provider.proxy.reaches_proxy"),
            "{text}"
        );
    }
}

/// The hand-written `~/.codex/config.toml` of "Point Codex at it", with the client key the
/// README exports, passes doctor's static checks and names the variable codex-config writes.
#[test]
fn readme_codex_snippet_passes_doctor_with_the_readme_key_variable() {
    let readme = readme();
    let (_, section) = readme.split_once("## Point Codex at it").unwrap();
    let snippet = readme_codex_snippet();
    assert!(
        snippet.contains("env_key = \"CODEX_PROXY_KEY\""),
        "{snippet}"
    );
    assert!(
        section.contains("`CODEX_PROXY_KEY=anything codex`"),
        "the README exports another variable"
    );
    let shell = Shell::new();
    std::fs::create_dir_all(shell.codex_home()).unwrap();
    std::fs::write(shell.codex_home().join("config.toml"), &snippet).unwrap();
    let out = shell.run(&format!(
        "{BIN_NAME} --config config.example.json doctor --no-probe --json"
    ));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(0), "{report:#}");
    let env_key = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "codex.provider.proxy.env_key")
        .unwrap_or_else(|| panic!("no env_key check: {report:#}"));
    assert_eq!(env_key["status"], "ok", "{report:#}");
    assert!(
        env_key["message"]
            .as_str()
            .unwrap()
            .contains("CODEX_PROXY_KEY"),
        "{report:#}"
    );
}

/// The example `config.json` of the configuration reference loads.
#[test]
fn readme_config_example_is_valid() {
    let readme = readme();
    let (_, section) = readme.split_once("## Configuration reference").unwrap();
    let example = blocks(section, "json").into_iter().next().unwrap();
    let env = |name: &str| {
        matches!(name, "KIMI_API_KEY" | "OPENAI_API_KEY").then(|| "sk-readme-test".to_owned())
    };
    if let Err(errors) = ccp_gateway::config::parse_str(&example, &env) {
        panic!("the README's config.json does not load:\n{errors}\n{example}");
    }
}
