//! Where end-to-end tests find their external tools, and a throwaway directory helper.
//!
//! Tools live in `<workspace>/.tools/` (installed by `.ci/install-test-tools.sh`). A missing tool
//! is a test failure with instructions, never a silent skip: a green run must mean the real
//! Codex CLI and the real OpenAI SDK were exercised.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

/// Env var overriding the Codex binary location.
pub const CODEX_BIN_ENV: &str = "CCP_CODEX_BIN";
/// Env var overriding the Python interpreter (must have the `openai` package).
pub const PYTHON_BIN_ENV: &str = "CCP_PYTHON_BIN";
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
