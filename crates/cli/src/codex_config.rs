//! `codex-convert-proxy codex-config`: generates a Codex `config.toml` (and the model catalog it
//! points at) that routes Codex through this proxy.
//!
//! What it writes, and why:
//! * one `[model_providers.*]` table per route: `proxy` for the un-prefixed `/v1`, and
//!   `proxy-<backend>` for every backend with a `path_prefix` (or a header rule, sent through
//!   `http_headers`). Names never collide with Codex's built-in ids (`openai` tables are
//!   silently ignored by Codex) and never equal `azure`/`openai` (which switch on special
//!   behaviour); `wire_api` is always `"responses"` because `"chat"` no longer loads;
//! * one profile per backend reachable through some provider, so `codex -p <backend>` picks
//!   both the model and the route. Codex 0.169 keeps profiles in `$CODEX_HOME/<name>.config.toml`
//!   and refuses `-p` while `config.toml` has a legacy `[profiles.*]` table, so they are
//!   separate files (listed as comments when printing);
//! * `model_catalog_json`: a `{"models":[ModelInfo…]}` file describing every configured model.
//!   Without it Codex uses fallback metadata for unknown models, which has no `apply_patch` tool
//!   and a 272k context window. Codex refuses a catalog entry without `base_instructions`, so each
//!   entry carries [`BASE_INSTRUCTIONS`].
//!
//! Invariants: the printed text (minus the trailing profile comments) is what `--write` puts in
//! `config.toml`; nothing is overwritten without `--force`, and an overwritten file is first
//! copied to `<file>.bak`; no key material is read or written (only the env var name).

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use ccp_gateway::config::{Backend, Config, Protocol};
use ccp_gateway::routing::Router;
use serde_json::{json, Value};

/// File name of the generated catalog, next to `config.toml`.
pub const CATALOG_FILE: &str = "codex-convert-proxy-models.json";
/// Provider id of the un-prefixed route.
pub const DEFAULT_PROVIDER: &str = "proxy";
/// Context window advertised when a backend does not set `context_window`.
pub const DEFAULT_CONTEXT_WINDOW: u64 = 128_000;
/// Context window of the OpenAI models a `responses` or `codex` backend serves (upstreams.md
/// §1.9), advertised when the backend does not set `context_window`.
pub const NATIVE_CONTEXT_WINDOW: u64 = 272_000;

/// Whether a backend speaks the Responses API natively: hosted tools (web search) and the
/// freeform `apply_patch` work as with OpenAI, with no translation.
fn is_native_responses(backend: &Backend) -> bool {
    matches!(backend.protocol, Protocol::Responses | Protocol::Codex)
}

/// Codex's `web_search` mode for a backend: a chat, anthropic or mock backend cannot serve the
/// hosted web search tool, a native Responses backend can.
fn web_search_mode(backend: &Backend) -> &'static str {
    if is_native_responses(backend) {
        "cached"
    } else {
        "disabled"
    }
}

/// System prompt for catalog models (Codex sends it as the first developer message). Written
/// for this project; users can replace it with Codex's `model_instructions_file`.
pub const BASE_INSTRUCTIONS: &str = "\
You are a coding agent working inside the Codex CLI, in a workspace you share with the user. \
Your job is to get the user's request done in that workspace: read code, run commands, edit \
files, and check the result.

How to work:
- Look before you change: read the relevant files and search the tree (prefer `rg`) instead of \
guessing names or paths.
- Run shell commands with the shell tool. Keep commands non-interactive; set the working \
directory instead of chaining `cd`.
- Edit files with the `apply_patch` tool. Its input is a patch, not JSON:
  *** Begin Patch
  *** Update File: path/to/file
  @@ optional context line
   unchanged line
  -old line
  +new line
  *** End Patch
  Use `*** Add File: path` (every line prefixed with `+`) to create a file and \
`*** Delete File: path` to remove one. Paths are relative to the working directory.
- Make the smallest change that solves the problem, in the style of the surrounding code. Do \
not revert changes you did not make, and do not add license headers or unrelated refactors.
- After changing code, build or test it when that is possible, and fix what you broke.
- If something is ambiguous or risky (deleting data, force-pushing, touching secrets), ask \
before acting.

When you finish, reply briefly: what you changed (with file paths), how you checked it, and \
anything left for the user to do. Use plain Markdown; wrap commands and paths in backticks.";

/// Flags of `codex-config`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Write config.toml, the model catalog and one <backend>.config.toml profile per backend
    /// into the Codex home instead of printing.
    #[arg(long)]
    pub write: bool,
    /// With --write: overwrite existing files (each old one is kept as <file>.bak).
    #[arg(long)]
    pub force: bool,
    /// Codex home directory (default: $CODEX_HOME, else ~/.codex).
    #[arg(long, value_name = "DIR")]
    pub codex_home: Option<PathBuf>,
    /// URL Codex uses to reach this proxy, without /v1 (default: derived from `listen`).
    #[arg(long, value_name = "URL")]
    pub proxy_url: Option<String>,
    /// Environment variable Codex reads the client key from.
    #[arg(long, value_name = "NAME", default_value = "CODEX_PROXY_KEY")]
    pub client_key_env: String,
    /// Print the model catalog JSON instead of config.toml.
    #[arg(long, conflicts_with = "write")]
    pub print_catalog: bool,
}

/// Runs the subcommand: 0 on success, 1 when refusing to overwrite or on an IO error, 2 for an
/// invalid proxy config or flag.
pub fn run(config_path: &Path, args: Args) -> ExitCode {
    let config = match crate::load_config(config_path) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let proxy_url = match args.proxy_url.as_deref() {
        Some(url) => match normalize_proxy_url(url) {
            Ok((url, note)) => {
                if let Some(note) = note {
                    eprintln!("note: {note}");
                }
                url
            }
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        },
        None => proxy_url_from_listen(&config.listen),
    };
    if !is_env_name(&args.client_key_env) {
        eprintln!(
            "error: --client-key-env `{}` is not a valid environment variable name (use letters, digits and `_`)",
            args.client_key_env
        );
        return ExitCode::from(2);
    }
    let home = match args
        .codex_home
        .clone()
        .map(Ok)
        .unwrap_or_else(default_codex_home)
    {
        Ok(h) => absolute(&h),
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let catalog_path = home.join(CATALOG_FILE);
    let generated = generate(&config, &proxy_url, &args.client_key_env, &catalog_path);
    for warning in &generated.warnings {
        eprintln!("warning: {warning}");
    }
    let catalog_text = match serde_json::to_string_pretty(&generated.catalog) {
        Ok(t) => t + "\n",
        Err(e) => {
            eprintln!("error: could not serialize the model catalog: {e}");
            return ExitCode::FAILURE;
        }
    };
    if args.print_catalog {
        print!("{catalog_text}");
        return ExitCode::SUCCESS;
    }
    if !args.write {
        print!("{}", generated.config_toml);
        print!("{}", profiles_as_comments(&generated.profiles));
        eprintln!(
            "note: model_catalog_json points at {}; run with --write to create it (or save `--print-catalog` output there).",
            catalog_path.display()
        );
        return ExitCode::SUCCESS;
    }
    let mut files = vec![
        (CATALOG_FILE.to_owned(), catalog_text),
        ("config.toml".to_owned(), generated.config_toml),
    ];
    files.extend(
        generated
            .profiles
            .into_iter()
            .map(|p| (p.file_name, p.content)),
    );
    write_files(&home, &files, args.force, &args.client_key_env)
}

/// The profile files as TOML comments, so printed output stays one valid `config.toml`.
fn profiles_as_comments(profiles: &[ProfileFile]) -> String {
    if profiles.is_empty() {
        return String::new();
    }
    let mut out = String::from(
        "\n# Profiles for `codex -p <name>` live in separate files next to config.toml (--write creates them):\n",
    );
    for p in profiles {
        out.push_str(&format!("#\n# --- {} ---\n", p.file_name));
        for line in p.content.lines().filter(|l| !l.starts_with('#')) {
            out.push_str(&format!("# {line}\n"));
        }
    }
    out
}

/// The generated files, before anything touches the disk.
#[derive(Debug, Clone)]
pub struct Generated {
    pub config_toml: String,
    pub catalog: Value,
    /// One `<backend>.config.toml` per selectable backend.
    pub profiles: Vec<ProfileFile>,
    /// Backends Codex cannot select, and similar notes for stderr.
    pub warnings: Vec<String>,
}

/// A Codex profile: `$CODEX_HOME/<name>.config.toml`, selected by `codex -p <name>`. Codex
/// 0.169 rejects `-p` while config.toml holds legacy `[profiles.*]` tables, so profiles are
/// separate files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileFile {
    pub file_name: String,
    pub content: String,
}

/// One `[model_providers.<id>]` table.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Provider {
    id: String,
    display: String,
    base_url: String,
    header: Option<(String, String)>,
}

/// Builds `config.toml` and the catalog for `config`; `proxy_url` has no trailing `/` or `/v1`.
pub fn generate(config: &Config, proxy_url: &str, key_env: &str, catalog_path: &Path) -> Generated {
    let router = Router::new(config);
    let mut warnings = Vec::new();
    let default_backend = config.backends.get(config.default_backend_index());
    let mut providers = vec![Provider {
        id: DEFAULT_PROVIDER.to_owned(),
        display: "codex-convert-proxy".to_owned(),
        base_url: format!("{proxy_url}/v1"),
        header: None,
    }];
    let mut profiles: Vec<(&Backend, String)> = Vec::new();
    for (index, backend) in config.backends.iter().enumerate() {
        match provider_for(&router, index, backend, proxy_url) {
            Some(p) if p.id == DEFAULT_PROVIDER => {
                profiles.push((backend, p.id));
            }
            Some(p) => {
                profiles.push((backend, p.id.clone()));
                providers.push(p);
            }
            None => warnings.push(format!(
                "backend `{}` has no path_prefix or header rule and its model `{}` routes elsewhere, so no Codex profile can select it; give it a match_rules.path_prefix",
                backend.name, backend.model
            )),
        }
    }
    let mut out = String::new();
    out.push_str("# Codex config generated by `codex-convert-proxy codex-config`.\n");
    out.push_str(&format!(
        "# Codex sends ${key_env} as the client key: export it (one of the proxy's client_keys, or any non-empty value if it has none).\n"
    ));
    out.push_str("# `codex -p <backend>` picks a backend's model and route.\n");
    if let Some(b) = default_backend {
        out.push_str(&format!("model = {}\n", toml_str(&b.model)));
    }
    out.push_str(&format!(
        "model_provider = {}\n",
        toml_str(DEFAULT_PROVIDER)
    ));
    // Hosted web search cannot be translated to Chat Completions; a native Responses backend
    // serves it.
    if let Some(b) = default_backend {
        out.push_str(&format!("web_search = {}\n", toml_str(web_search_mode(b))));
    }
    out.push_str(&format!(
        "model_catalog_json = {}\n",
        toml_str(&catalog_path.display().to_string())
    ));
    for p in &providers {
        out.push_str(&format!("\n[model_providers.{}]\n", p.id));
        out.push_str(&format!("name = {}\n", toml_str(&p.display)));
        out.push_str(&format!("base_url = {}\n", toml_str(&p.base_url)));
        out.push_str("wire_api = \"responses\"\n");
        out.push_str(&format!("env_key = {}\n", toml_str(key_env)));
        out.push_str("supports_websockets = true\n");
        if let Some((name, value)) = &p.header {
            out.push_str(&format!(
                "http_headers = {{ {} = {} }}\n",
                toml_str(name),
                toml_str(value)
            ));
        }
    }
    let profiles: Vec<ProfileFile> = profiles
        .into_iter()
        .map(|(backend, provider)| ProfileFile {
            file_name: format!("{}.config.toml", backend.name),
            content: format!(
                "# `codex -p {name}`: backend `{name}` ({kind}) through codex-convert-proxy.\nmodel = {}\nmodel_provider = {}\nweb_search = {}\n",
                toml_str(&backend.model),
                toml_str(&provider),
                toml_str(web_search_mode(backend)),
                name = backend.name,
                kind = backend.protocol.as_str(),
            ),
        })
        .collect();
    Generated {
        config_toml: out,
        catalog: catalog(config),
        profiles,
        warnings,
    }
}

/// The provider that routes a request for `backend.model` to `backend`, if any.
fn provider_for(
    router: &Router,
    index: usize,
    backend: &Backend,
    proxy_url: &str,
) -> Option<Provider> {
    if let Some(prefix) = backend.match_rules.path_prefix.as_deref() {
        return Some(Provider {
            id: format!("{DEFAULT_PROVIDER}-{}", backend.name),
            display: format!("codex-convert-proxy ({})", backend.name),
            base_url: format!("{proxy_url}{prefix}/v1"),
            header: None,
        });
    }
    let no_headers = |_: &str| None;
    if router
        .resolve("/v1/responses", Some(&backend.model), &no_headers)
        .backend
        == index
    {
        return Some(Provider {
            id: DEFAULT_PROVIDER.to_owned(),
            display: String::new(),
            base_url: String::new(),
            header: None,
        });
    }
    let rule = backend.match_rules.header.as_ref()?;
    let (name, value) = (rule.name.clone(), rule.value.clone());
    let with_header = |n: &str| (n == name).then(|| value.clone());
    // A model rule of another backend would still win over the header.
    if router
        .resolve("/v1/responses", Some(&backend.model), &with_header)
        .backend
        != index
    {
        return None;
    }
    Some(Provider {
        id: format!("{DEFAULT_PROVIDER}-{}", backend.name),
        display: format!("codex-convert-proxy ({})", backend.name),
        base_url: format!("{proxy_url}/v1"),
        header: Some((rule.name.clone(), rule.value.clone())),
    })
}

/// `{"models":[…]}` with one entry per distinct configured model (each model group's exact
/// `model`, then each backend's `model` and its `models`), in config order.
pub fn catalog(config: &Config) -> Value {
    let mut seen: Vec<&str> = Vec::new();
    let mut models = Vec::new();
    for group in &config.model_groups {
        let members: Vec<&Backend> = group
            .backends
            .iter()
            .filter_map(|&i| config.backends.get(i))
            .collect();
        let Some(first) = members.first() else {
            continue;
        };
        if group.model.contains('*') || seen.contains(&group.model.as_str()) {
            continue;
        }
        seen.push(&group.model);
        let mut info = model_info(&group.model, first, models.len());
        // A fallback may have to take the whole context: Codex sizes it (and compacts) by the
        // smallest window in the group.
        let window = members.iter().map(|b| context_window(b)).min();
        info["context_window"] = json!(window);
        let names: Vec<&str> = members.iter().map(|b| b.name.as_str()).collect();
        info["description"] = json!(format!(
            "{} through codex-convert-proxy (model group: {})",
            group.model,
            names.join(", ")
        ));
        models.push(info);
    }
    for backend in &config.backends {
        for slug in std::iter::once(&backend.model).chain(&backend.models) {
            if seen.contains(&slug.as_str()) {
                continue;
            }
            seen.push(slug);
            models.push(model_info(slug, backend, models.len()));
        }
    }
    json!({ "models": models })
}

fn model_info(slug: &str, backend: &Backend, index: usize) -> Value {
    let levels = [
        ("low", "Fast responses with light reasoning"),
        ("medium", "Balances speed and reasoning depth"),
        ("high", "Deeper reasoning for complex problems"),
    ];
    let levels: Vec<Value> = levels
        .iter()
        .map(|(effort, description)| json!({"effort": effort, "description": description}))
        .collect();
    json!({
        "slug": slug,
        "display_name": slug,
        "description": format!("{slug} through codex-convert-proxy (backend `{}`)", backend.name),
        "default_reasoning_level": "medium",
        "supported_reasoning_levels": levels,
        "shell_type": "default",
        "visibility": "list",
        "supported_in_api": true,
        "priority": index + 1,
        "availability_nux": null,
        "upgrade": null,
        "base_instructions": BASE_INSTRUCTIONS,
        "support_verbosity": false,
        "default_verbosity": null,
        "apply_patch_tool_type": "freeform",
        "truncation_policy": {"mode": "bytes", "limit": 10000},
        "experimental_supported_tools": [],
        "context_window": context_window(backend),
        "input_modalities": ["text", "image"],
        "supports_parallel_tool_calls": true,
    })
}

/// The context window advertised for a backend's models.
fn context_window(backend: &Backend) -> u64 {
    backend
        .context_window
        .unwrap_or(if is_native_responses(backend) {
            NATIVE_CONTEXT_WINDOW
        } else {
            DEFAULT_CONTEXT_WINDOW
        })
}

/// `http://<listen>` with an unspecified address replaced by loopback.
pub fn proxy_url_from_listen(listen: &std::net::SocketAddr) -> String {
    let port = listen.port();
    match listen.ip() {
        std::net::IpAddr::V4(ip) if ip.is_unspecified() => format!("http://127.0.0.1:{port}"),
        std::net::IpAddr::V4(ip) => format!("http://{ip}:{port}"),
        std::net::IpAddr::V6(ip) if ip.is_unspecified() => format!("http://[::1]:{port}"),
        std::net::IpAddr::V6(ip) => format!("http://[{ip}]:{port}"),
    }
}

/// Trims a user-given proxy URL to `scheme://host[:port][/path]` without a trailing `/` or
/// `/v1`; the second value explains a removed `/v1`.
pub fn normalize_proxy_url(url: &str) -> Result<(String, Option<String>), String> {
    let trimmed = url.trim().trim_end_matches('/');
    if !(trimmed.starts_with("http://") || trimmed.starts_with("https://")) {
        return Err(format!(
            "--proxy-url `{url}` must start with http:// or https:// (e.g. http://127.0.0.1:8280)"
        ));
    }
    match trimmed.strip_suffix("/v1") {
        Some(base) => Ok((
            base.to_owned(),
            Some(format!(
                "--proxy-url should not end in /v1; using {base} (the generated base_url adds /v1)"
            )),
        )),
        None => Ok((trimmed.to_owned(), None)),
    }
}

/// `$CODEX_HOME`, else `~/.codex`.
pub fn default_codex_home() -> Result<PathBuf, String> {
    if let Some(h) = std::env::var_os("CODEX_HOME").filter(|h| !h.is_empty()) {
        return Ok(PathBuf::from(h));
    }
    match std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        Some(home) => Ok(PathBuf::from(home).join(".codex")),
        None => Err(
            "cannot find the Codex home: neither CODEX_HOME nor HOME is set; pass --codex-home DIR"
                .to_owned(),
        ),
    }
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

fn is_env_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A TOML basic string literal.
fn toml_str(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

/// Writes `(file name, content)` pairs into `home`, refusing to replace any existing file
/// unless `force`; replaced files are first copied to `<name>.bak`.
fn write_files(home: &Path, files: &[(String, String)], force: bool, key_env: &str) -> ExitCode {
    let existing: Vec<PathBuf> = files
        .iter()
        .map(|(name, _)| home.join(name))
        .filter(|p| p.exists())
        .collect();
    if !force && !existing.is_empty() {
        for p in &existing {
            eprintln!("refusing to overwrite {}: it already exists", p.display());
        }
        eprintln!("nothing was written; pass --force to overwrite (each old file is kept as <file>.bak), or --codex-home DIR to write elsewhere");
        return ExitCode::FAILURE;
    }
    if let Err(e) = std::fs::create_dir_all(home) {
        eprintln!("error: cannot create {}: {e}", home.display());
        return ExitCode::FAILURE;
    }
    for path in &existing {
        let mut backup = path.as_os_str().to_owned();
        backup.push(".bak");
        let backup = PathBuf::from(backup);
        if let Err(e) = std::fs::copy(path, &backup) {
            eprintln!(
                "error: cannot back up {} to {}: {e}; nothing was written",
                path.display(),
                backup.display()
            );
            return ExitCode::FAILURE;
        }
        eprintln!("backed up {} to {}", path.display(), backup.display());
    }
    for (name, text) in files {
        let path = home.join(name);
        let verb = if existing.contains(&path) {
            "overwrote"
        } else {
            "wrote"
        };
        if let Err(e) = write_atomically(&path, text) {
            eprintln!("error: cannot write {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
        eprintln!("{verb} {}", path.display());
    }
    eprintln!("next: export {key_env}=<client key> and run `codex` (or `codex -p <backend>`).");
    ExitCode::SUCCESS
}

/// Writes via a temp file in the same directory and a rename, so Codex never sees half a file.
fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    let tmp = path.with_extension("ccp-tmp");
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)
}
