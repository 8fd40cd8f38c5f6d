//! Where end-to-end tests find their external tools, and a throwaway directory helper.
//!
//! Tools live in `<workspace>/.tools/` (installed by `.ci/install-test-tools.sh`). A missing tool
//! is a test failure with instructions, never a silent skip: a green run must mean the real
//! Codex CLI, the real OpenAI SDK, the real Vercel AI SDK, a real Prometheus server and a real
//! headless Chromium were exercised.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

/// Env var overriding the Codex binary location.
pub const CODEX_BIN_ENV: &str = "CCP_CODEX_BIN";
/// Env var overriding the Python interpreter (must have the `openai` package).
pub const PYTHON_BIN_ENV: &str = "CCP_PYTHON_BIN";
/// Env var overriding the Node.js binary that runs the Vercel AI SDK scripts.
pub const NODE_BIN_ENV: &str = "CCP_NODE_BIN";
/// The npm packages [`vercel_ai_sdk`] requires under `<workspace>/.tools/node_modules`.
pub const VERCEL_PACKAGES: &[&str] = &["ai", "@ai-sdk/openai"];
/// Env var overriding the Prometheus server binary.
pub const PROMETHEUS_BIN_ENV: &str = "CCP_PROMETHEUS_BIN";
/// Env var overriding the headless browser (Debian's `chromium`) the console test drives.
pub const CHROMIUM_BIN_ENV: &str = "CCP_CHROMIUM_BIN";
/// Env var overriding the WebDriver server (Debian's `chromium-driver`: `chromedriver`).
pub const CHROMEDRIVER_BIN_ENV: &str = "CCP_CHROMEDRIVER_BIN";
/// Set to keep [`TempDir`]s on disk for debugging.
pub const KEEP_TMP_ENV: &str = "CCP_KEEP_TMP";

const INSTALL_HINT: &str = "run .ci/install-test-tools.sh (or bash .ci/run)";

/// The workspace root (two levels above this crate's manifest).
pub fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest
        .ancestors()
        .nth(2)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| manifest.to_path_buf())
}

/// `<workspace>/.tools`.
pub fn tools_dir() -> PathBuf {
    workspace_root().join(".tools")
}

fn env_path(var: &str) -> Option<PathBuf> {
    std::env::var_os(var)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// The Codex CLI binary: `$CCP_CODEX_BIN`, else the native binary from the npm package under
/// `<workspace>/.tools/node_modules/@openai/`. Panics with install instructions if absent.
pub fn codex_binary() -> PathBuf {
    if let Some(path) = env_path(CODEX_BIN_ENV) {
        assert!(
            path.is_file(),
            "Codex CLI not installed: {CODEX_BIN_ENV}={} does not exist; unset it or {INSTALL_HINT}",
            path.display()
        );
        return path;
    }
    let scope = tools_dir().join("node_modules").join("@openai");
    find_codex_in(&scope).unwrap_or_else(|| {
        panic!(
            "Codex CLI not installed: {INSTALL_HINT} (looked for vendor/*/bin/codex under {})",
            scope.display()
        )
    })
}

/// Searches `@openai/*/vendor/<triple>/bin/codex` (and the older `vendor/<triple>/codex/codex`
/// layout), preferring the triple of the running architecture.
pub fn find_codex_in(scope: &Path) -> Option<PathBuf> {
    let mut found = Vec::new();
    for package in read_dir_sorted(scope) {
        for triple in read_dir_sorted(&package.join("vendor")) {
            for candidate in [
                triple.join("bin").join("codex"),
                triple.join("codex").join("codex"),
            ] {
                if candidate.is_file() {
                    found.push(candidate);
                }
            }
        }
    }
    let arch = std::env::consts::ARCH;
    found
        .iter()
        .find(|p| p.to_string_lossy().contains(&format!("/{arch}-")))
        .or_else(|| found.first())
        .cloned()
}

fn read_dir_sorted(dir: &Path) -> Vec<PathBuf> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| rd.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    entries.sort();
    entries
}

/// A Python interpreter with the `openai` package: `$CCP_PYTHON_BIN`, else
/// `<workspace>/.tools/venv/bin/python`. Panics with install instructions if absent or if
/// `import openai` fails (checked once per process).
pub fn python_bin() -> PathBuf {
    static CHECKED: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let checked = CHECKED.get_or_init(|| {
        let path = env_path(PYTHON_BIN_ENV)
            .unwrap_or_else(|| tools_dir().join("venv").join("bin").join("python"));
        if !path.exists() {
            return Err(format!(
                "Python with the openai package not installed: {INSTALL_HINT} (missing {})",
                path.display()
            ));
        }
        match Command::new(&path).args(["-c", "import openai"]).output() {
            Ok(out) if out.status.success() => Ok(path),
            Ok(out) => Err(format!(
                "Python with the openai package not installed: {INSTALL_HINT} (`{} -c 'import \
                 openai'` failed: {})",
                path.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            )),
            Err(e) => Err(format!(
                "Python with the openai package not installed: {INSTALL_HINT} (cannot run {}: {e})",
                path.display()
            )),
        }
    });
    match checked {
        Ok(path) => path.clone(),
        Err(message) => panic!("{message}"),
    }
}

/// Node.js and the `node_modules` directory that hold the Vercel AI SDK.
#[derive(Debug, Clone)]
pub struct VercelAiSdk {
    /// The `node` binary.
    pub node: PathBuf,
    /// `<workspace>/.tools/node_modules`, with `ai` and `@ai-sdk/openai` in it. Scripts outside
    /// it load the packages from here (bare imports resolve relative to the script).
    pub node_modules: PathBuf,
}

/// The Vercel AI SDK: `$CCP_NODE_BIN` (else `node` on `PATH`) and the [`VERCEL_PACKAGES`] under
/// `<workspace>/.tools/node_modules`. Panics with install instructions if either is absent
/// (checked once per process).
pub fn vercel_ai_sdk() -> VercelAiSdk {
    static CHECKED: OnceLock<Result<VercelAiSdk, String>> = OnceLock::new();
    let checked = CHECKED.get_or_init(|| {
        let node = env_path(NODE_BIN_ENV)
            .or_else(|| find_on_path("node"))
            .ok_or_else(|| {
                format!("Node.js not found on PATH or in {NODE_BIN_ENV}: {INSTALL_HINT}")
            })?;
        match Command::new(&node).arg("--version").output() {
            Ok(out) if out.status.success() => {}
            Ok(out) => {
                return Err(format!(
                    "`{} --version` failed: {}",
                    node.display(),
                    String::from_utf8_lossy(&out.stderr).trim()
                ))
            }
            Err(e) => return Err(format!("cannot run {}: {e}", node.display())),
        }
        let node_modules = tools_dir().join("node_modules");
        let missing: Vec<&str> = VERCEL_PACKAGES
            .iter()
            .copied()
            .filter(|p| !node_modules.join(p).join("package.json").is_file())
            .collect();
        if !missing.is_empty() {
            return Err(format!(
                "Vercel AI SDK not installed: {INSTALL_HINT} (missing {} under {})",
                missing.join(", "),
                node_modules.display()
            ));
        }
        Ok(VercelAiSdk { node, node_modules })
    });
    match checked {
        Ok(sdk) => sdk.clone(),
        Err(message) => panic!("{message}"),
    }
}

/// The Prometheus server (Debian's `prometheus` package): `$CCP_PROMETHEUS_BIN`, else
/// `prometheus` on `PATH`. Panics with install instructions if absent.
pub fn prometheus_binary() -> PathBuf {
    if let Some(path) = env_path(PROMETHEUS_BIN_ENV) {
        assert!(
            path.is_file(),
            "Prometheus not installed: {PROMETHEUS_BIN_ENV}={} does not exist; unset it or \
             {INSTALL_HINT}",
            path.display()
        );
        return path;
    }
    find_on_path("prometheus").unwrap_or_else(|| {
        panic!(
            "Prometheus not installed: {INSTALL_HINT} (as root it runs `apt-get install \
             prometheus`; looked for `prometheus` on PATH)"
        )
    })
}

/// Chromium and its WebDriver server (Debian's `chromium` and `chromium-driver`), for the
/// console's browser test.
#[derive(Debug, Clone)]
pub struct Chromium {
    /// The browser.
    pub browser: PathBuf,
    /// `chromedriver`.
    pub driver: PathBuf,
}

/// Chromium and chromedriver: `$CCP_CHROMIUM_BIN` and `$CCP_CHROMEDRIVER_BIN`, else `chromium`
/// and `chromedriver` on `PATH`. Panics with install instructions if either is absent.
pub fn chromium() -> Chromium {
    let find = |var: &str, name: &str, package: &str| {
        if let Some(path) = env_path(var) {
            assert!(
                path.is_file(),
                "{name} not installed: {var}={} does not exist; unset it or {INSTALL_HINT}",
                path.display()
            );
            return path;
        }
        find_on_path(name).unwrap_or_else(|| {
            panic!(
                "{name} not installed: {INSTALL_HINT} (as root it runs `apt-get install \
                 {package}`; looked for `{name}` on PATH)"
            )
        })
    };
    Chromium {
        browser: find(CHROMIUM_BIN_ENV, "chromium", "chromium"),
        driver: find(CHROMEDRIVER_BIN_ENV, "chromedriver", "chromium-driver"),
    }
}

/// The first executable file named `name` in a `PATH` directory.
fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// A directory under [`std::env::temp_dir`] with a unique name, removed (recursively) on drop
/// unless `CCP_KEEP_TMP` is set.
#[derive(Debug)]
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// Creates `<tmp>/ccp-<label>-<pid>-<n>-<nanos>`.
    pub fn new(label: &str) -> TempDir {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let path =
            std::env::temp_dir().join(format!("ccp-{label}-{}-{n}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&path)
            .unwrap_or_else(|e| panic!("cannot create temp dir {}: {e}", path.display()));
        TempDir { path }
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `path().join(rel)`.
    pub fn join(&self, rel: impl AsRef<Path>) -> PathBuf {
        self.path.join(rel)
    }
}

impl AsRef<Path> for TempDir {
    fn as_ref(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::env::var_os(KEEP_TMP_ENV).is_none() {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}
