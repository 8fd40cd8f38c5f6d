//! Codex-side checks: reads `$CODEX_HOME/config.toml` and flags what makes Codex fail to load,
//! ignore a table, compose a wrong URL, send no key, stall on WebSocket, or talk to something
//! other than this proxy — each with the edit that fixes it.
//!
//! Invariants: the file is only read; a provider is judged strictly (`fail`) when Codex would
//! use it for this proxy (it is the active `model_provider`, a profile's provider, or its
//! `base_url` has the proxy's origin) and leniently (`warn`) otherwise, since users may keep
//! unrelated providers in the same file.

use std::path::Path;

use toml::{Table, Value};

use super::net::{self, Health};
use super::{Check, Context};

/// Provider ids Codex defines itself; a table with one of these names is ignored.
const BUILT_IN_PROVIDERS: &[&str] = &[
    "openai",
    "ollama",
    "lmstudio",
    "amazon-bedrock",
    "amazon-bedrock-runtime",
];

/// The Codex config file as found on disk.
pub enum CodexFile {
    Missing,
    Invalid(String),
    Parsed(Table),
}

impl CodexFile {
    /// `env_key` variable names of every provider table.
    pub fn env_keys(&self) -> Vec<String> {
        let CodexFile::Parsed(table) = self else {
            return Vec::new();
        };
        providers(table)
            .filter_map(|(_, p)| p.get("env_key").and_then(Value::as_str).map(str::to_owned))
            .collect()
    }
}

/// Reads and parses `path`.
pub fn read(path: &Path) -> CodexFile {
    match std::fs::read_to_string(path) {
        Ok(text) => match text.parse::<Table>() {
            Ok(t) => CodexFile::Parsed(t),
            Err(e) => CodexFile::Invalid(e.to_string()),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => CodexFile::Missing,
        Err(e) => CodexFile::Invalid(format!("cannot read it: {e}")),
    }
}

fn providers(table: &Table) -> impl Iterator<Item = (&String, &Table)> {
    table
        .get("model_providers")
        .and_then(Value::as_table)
        .into_iter()
        .flat_map(|t| t.iter())
        .filter_map(|(id, v)| v.as_table().map(|t| (id, t)))
}

/// `<name>.config.toml` profile files next to `config.toml`, parsed (`None` when invalid),
/// sorted by name.
fn profile_files(config_path: &Path) -> Vec<(String, std::path::PathBuf, Option<Table>)> {
    let Some(dir) = config_path.parent() else {
        return Vec::new();
    };
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<(String, std::path::PathBuf, Option<Table>)> = entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let file = e.path();
            let name = file
                .file_name()?
                .to_str()?
                .strip_suffix(".config.toml")?
                .to_owned();
            if name.is_empty() {
                return None;
            }
            let table = std::fs::read_to_string(&file)
                .ok()
                .and_then(|t| t.parse::<Table>().ok());
            Some((name, file, table))
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn str_field<'a>(t: &'a Table, key: &str) -> Option<&'a str> {
    t.get(key).and_then(Value::as_str)
}

/// All Codex-side checks.
pub async fn check(ctx: &Context, path: &Path, file: &CodexFile) -> Vec<Check> {
    let shown = path.display();
    let table = match file {
        CodexFile::Missing => {
            return vec![Check::warn(
                "codex.config",
                format!("no Codex config at {shown}"),
                "run `codex-convert-proxy codex-config --write` (or pass --codex-home DIR)",
            )]
        }
        CodexFile::Invalid(e) => {
            return vec![Check::fail(
                "codex.config",
                format!("{shown} is not valid TOML: {e}"),
                "fix the syntax (Codex refuses to start with it), or regenerate it with `codex-convert-proxy codex-config --write --force`",
            )]
        }
        CodexFile::Parsed(t) => t,
    };
    let mut checks = vec![Check::ok("codex.config", format!("read {shown}"))];
    let defined: Vec<&String> = providers(table).map(|(id, _)| id).collect();
    let active = str_field(table, "model_provider");
    checks.push(check_selected(
        "codex.model_provider",
        "model_provider",
        active,
        &defined,
    ));
    let mut used: Vec<String> = active.map(str::to_owned).into_iter().collect();
    let legacy = table.get("profiles").and_then(Value::as_table);
    if legacy.is_some_and(|t| !t.is_empty()) || table.contains_key("profile") {
        checks.push(Check::fail(
            "codex.legacy_profiles",
            format!("{shown} has a legacy `profile = …` selector or [profiles.*] table; Codex refuses `codex -p <name>` while it is there"),
            "move each [profiles.<name>] into <CODEX_HOME>/<name>.config.toml (same keys, no table header) and delete the table and any `profile =` line; `codex-convert-proxy codex-config --write` generates such files",
        ));
    }
    for (name, profile) in legacy.into_iter().flatten() {
        let Some(provider) = profile
            .as_table()
            .and_then(|p| str_field(p, "model_provider"))
        else {
            continue;
        };
        used.push(provider.to_owned());
        let key = format!("[profiles.{name}] model_provider");
        checks.push(check_selected(
            &format!("codex.profile.{name}"),
            &key,
            Some(provider),
            &defined,
        ));
    }
    for (name, file, profile) in profile_files(path) {
        let Some(profile) = profile else {
            checks.push(Check::fail(
                format!("codex.profile.{name}"),
                format!("{} is not valid TOML", file.display()),
                format!("fix it or delete it; `codex -p {name}` fails until then"),
            ));
            continue;
        };
        let Some(provider) = str_field(&profile, "model_provider") else {
            continue;
        };
        used.push(provider.to_owned());
        let mut known = defined.clone();
        known.extend(providers(&profile).map(|(id, _)| id));
        let key = format!("model_provider in {}", file.display());
        checks.push(check_selected(
            &format!("codex.profile.{name}"),
            &key,
            Some(provider),
            &known,
        ));
    }
    checks.push(check_catalog(table));
    for (id, provider) in providers(table) {
        if id == "openai" {
            checks.push(Check::fail(
                "codex.provider.openai",
                "[model_providers.openai] is ignored: Codex never lets a config table override its built-in `openai` provider",
                "rename the table (e.g. [model_providers.proxy]) and set model_provider = \"proxy\"",
            ));
            continue;
        }
        if BUILT_IN_PROVIDERS.contains(&id.as_str()) {
            checks.push(Check::warn(
                format!("codex.provider.{id}"),
                format!(
                    "[model_providers.{id}] has the id of a Codex built-in provider and is ignored"
                ),
                format!(
                    "rename the table and point model_provider at the new name instead of `{id}`"
                ),
            ));
            continue;
        }
        let relevant = used.iter().any(|u| u == id)
            || same_origin(str_field(provider, "base_url"), &ctx.proxy_url);
        checks.extend(check_provider(ctx, id, provider, relevant).await);
    }
    checks
}

/// `model_provider` (top level or in a profile) must name a defined table.
fn check_selected(id: &str, key: &str, value: Option<&str>, defined: &[&String]) -> Check {
    let choices = if defined.is_empty() {
        "no [model_providers.*] table exists yet — run `codex-convert-proxy codex-config`"
            .to_owned()
    } else {
        format!(
            "defined: {}",
            defined
                .iter()
                .map(|d| format!("`{d}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    match value {
        None => Check::fail(
            id,
            format!("{key} is not set, so Codex uses its built-in OpenAI provider, not this proxy"),
            format!("set {key} = \"proxy\" (the provider table for this proxy; {choices})"),
        ),
        Some("openai") => Check::fail(
            id,
            format!("{key} = \"openai\" selects Codex's built-in OpenAI provider (a [model_providers.openai] table is ignored)"),
            format!("set {key} to the proxy's provider table ({choices})"),
        ),
        Some(other) if BUILT_IN_PROVIDERS.contains(&other) => Check::warn(
            id,
            format!("{key} = \"{other}\" selects a Codex built-in provider, not this proxy"),
            format!("set {key} to the proxy's provider table ({choices})"),
        ),
        Some(name) if defined.iter().any(|d| d.as_str() == name) => {
            Check::ok(id, format!("{key} = \"{name}\" names a defined provider"))
        }
        Some(name) => Check::fail(
            id,
            format!("{key} = \"{name}\" but there is no [model_providers.{name}] table"),
            format!("add [model_providers.{name}] or change {key} ({choices})"),
        ),
    }
}

/// `model_catalog_json` must exist and be a catalog Codex accepts.
fn check_catalog(table: &Table) -> Check {
    let id = "codex.catalog";
    let Some(path) = str_field(table, "model_catalog_json") else {
        return Check::warn(
            id,
            "no model_catalog_json: Codex uses fallback metadata for non-OpenAI models (no apply_patch tool, a 272k context window)",
            "run `codex-convert-proxy codex-config --write` to generate the catalog, or set model_catalog_json yourself",
        );
    };
    if !Path::new(path).is_absolute() {
        return Check::warn(
            id,
            format!("model_catalog_json `{path}` is a relative path"),
            "use an absolute path",
        );
    }
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            return Check::fail(
                id,
                format!("model_catalog_json {path} cannot be read ({e}); Codex will refuse to start"),
                "regenerate it with `codex-convert-proxy codex-config --write --force`, or remove the line",
            )
        }
    };
    let parsed: Result<serde_json::Value, _> = serde_json::from_str(&text);
    let Some(models) = parsed
        .ok()
        .and_then(|v| v.get("models").and_then(|m| m.as_array()).cloned())
    else {
        return Check::fail(
            id,
            format!("model_catalog_json {path} is not a {{\"models\":[…]}} JSON document; Codex will refuse to start"),
            "regenerate it with `codex-convert-proxy codex-config --write --force`",
        );
    };
    let without_instructions: Vec<String> = models
        .iter()
        .filter(|m| {
            m.get("base_instructions").is_none()
                && m.pointer("/model_messages/instructions_template").is_none()
        })
        .map(|m| {
            m.get("slug")
                .and_then(|s| s.as_str())
                .unwrap_or("?")
                .to_owned()
        })
        .collect();
    if !without_instructions.is_empty() {
        return Check::fail(
            id,
            format!(
                "model_catalog_json {path}: {} lack base_instructions; Codex refuses such a catalog",
                without_instructions.join(", ")
            ),
            "add \"base_instructions\" to each entry, or regenerate with `codex-convert-proxy codex-config --write --force`",
        );
    }
    let slugs: Vec<&str> = models
        .iter()
        .filter_map(|m| m.get("slug").and_then(|s| s.as_str()))
        .collect();
    match str_field(table, "model") {
        Some(model) if !slugs.iter().any(|s| model.starts_with(s)) => Check::warn(
            id,
            format!("model `{model}` is not in model_catalog_json {path}; Codex will use fallback metadata for it (no apply_patch)"),
            "regenerate the catalog after adding the model to a backend's `model`/`models`",
        ),
        _ => Check::ok(id, format!("model_catalog_json {path} lists {} model(s)", slugs.len())),
    }
}

async fn check_provider(ctx: &Context, id: &str, p: &Table, relevant: bool) -> Vec<Check> {
    let mut out = Vec::new();
    let prefix = format!("codex.provider.{id}");
    match str_field(p, "wire_api") {
        None | Some("responses") => out.push(Check::ok(format!("{prefix}.wire_api"), "wire_api = \"responses\"")),
        Some("chat") => out.push(Check::fail(
            format!("{prefix}.wire_api"),
            format!("[model_providers.{id}] has wire_api = \"chat\", which Codex no longer loads (\"`wire_api = \\\"chat\\\"` is no longer supported\")"),
            "set wire_api = \"responses\" — this proxy serves the Responses API and does the Chat Completions translation itself",
        )),
        Some(other) => out.push(Check::fail(
            format!("{prefix}.wire_api"),
            format!("[model_providers.{id}] has wire_api = \"{other}\"; Codex only accepts \"responses\""),
            "set wire_api = \"responses\"",
        )),
    }
    let name = str_field(p, "name").unwrap_or_default();
    if name.eq_ignore_ascii_case("azure") || name.eq_ignore_ascii_case("openai") {
        out.push(Check::warn(
            format!("{prefix}.name"),
            format!("[model_providers.{id}] is named \"{name}\", which switches on Codex's special handling for that vendor"),
            "use another display name, e.g. name = \"codex-convert-proxy\"",
        ));
    }
    let base_url = str_field(p, "base_url");
    let base_ok = match base_url {
        None => {
            out.push(Check::fail(
                format!("{prefix}.base_url"),
                format!("[model_providers.{id}] has no base_url, so Codex sends its requests to https://api.openai.com/v1"),
                format!("set base_url = \"{}/v1\"", ctx.proxy_url),
            ));
            false
        }
        Some(url) => match base_url_problem(url) {
            Some((problem, fixed)) => {
                out.push(Check::fail(
                    format!("{prefix}.base_url"),
                    format!("[model_providers.{id}] base_url = \"{url}\": {problem}"),
                    format!("set base_url = \"{fixed}\" (Codex appends /responses itself)"),
                ));
                false
            }
            None => {
                out.push(Check::ok(
                    format!("{prefix}.base_url"),
                    format!("base_url = \"{url}\""),
                ));
                true
            }
        },
    };
    let key_value = match str_field(p, "env_key") {
        Some(var) => match std::env::var(var) {
            Ok(v) if !v.trim().is_empty() => {
                out.push(Check::ok(
                    format!("{prefix}.env_key"),
                    format!("env_key {var} is set"),
                ));
                Some(v)
            }
            _ => {
                out.push(Check::fail(
                    format!("{prefix}.env_key"),
                    format!("env_key {var} is unset or empty in this environment; Codex stops every request to `{id}` with an error"),
                    format!("export {var}=<client key> (one of the proxy's client_keys, or any non-empty value if it has none) in the shell that runs codex"),
                ));
                None
            }
        },
        None => None,
    };
    let Some(url) = base_url.filter(|_| base_ok && ctx.probe) else {
        return out;
    };
    let health = net::health(url).await;
    out.push(reach_check(
        &prefix,
        id,
        url,
        &health,
        relevant,
        &ctx.proxy_url,
    ));
    if p.get("supports_websockets").and_then(Value::as_bool) == Some(true) {
        out.push(websocket_check(&prefix, id, url, key_value.as_deref(), &health).await);
    }
    out
}

/// What is wrong with a base URL and the corrected value.
fn base_url_problem(url: &str) -> Option<(String, String)> {
    let trimmed = url.trim_end_matches('/');
    for suffix in ["/chat/completions", "/responses"] {
        if let Some(base) = trimmed.strip_suffix(suffix) {
            return Some((
                format!("it ends in {suffix}, so Codex would call {trimmed}/responses"),
                base.to_owned(),
            ));
        }
    }
    if trimmed.contains("/v1/v1") {
        return Some((
            "it contains /v1/v1, a doubled version segment".to_owned(),
            trimmed.replace("/v1/v1", "/v1"),
        ));
    }
    None
}

fn reach_check(
    prefix: &str,
    id: &str,
    url: &str,
    health: &Health,
    relevant: bool,
    proxy_url: &str,
) -> Check {
    let check_id = format!("{prefix}.reaches_proxy");
    let (problem, fix) = match health {
        Health::ThisProxy => return Check::ok(check_id, format!("{url} reaches codex-convert-proxy")),
        Health::Unreachable(e) => (
            format!("[model_providers.{id}] base_url {url} does not answer ({e})"),
            format!("start the proxy (`codex-convert-proxy -c <config>`), or set base_url to where it listens, e.g. \"{proxy_url}/v1\""),
        ),
        Health::Other(e) => (
            format!("[model_providers.{id}] base_url {url} does not reach codex-convert-proxy: {e}"),
            format!("set base_url to \"{proxy_url}/v1\" (or \"{proxy_url}/<path_prefix>/v1\" for a prefixed backend)"),
        ),
    };
    if relevant {
        Check::fail(check_id, problem, fix)
    } else {
        Check::warn(
            check_id,
            format!("{problem} (ignore this if `{id}` is not meant to use the proxy)"),
            fix,
        )
    }
}

async fn websocket_check(
    prefix: &str,
    id: &str,
    url: &str,
    bearer: Option<&str>,
    health: &Health,
) -> Check {
    let check_id = format!("{prefix}.websocket");
    let fix_off =
        format!("set supports_websockets = false in [model_providers.{id}] (or remove it)");
    if !url.starts_with("http://") {
        return Check::warn(
            check_id,
            format!("supports_websockets = true; the WebSocket check only runs for http:// base URLs, so {url} was not checked"),
            fix_off,
        );
    }
    match net::websocket_status(url, bearer).await {
        Ok(101) => Check::ok(check_id, format!("supports_websockets = true and {url}/responses accepts WebSocket upgrades")),
        Ok(401 | 403) => Check::warn(
            check_id,
            format!("supports_websockets = true, but the WebSocket upgrade at {url}/responses was refused for lack of a valid client key, so support is unknown"),
            "export the provider's env_key variable with a valid client key and re-run doctor",
        ),
        Ok(status) => Check::fail(
            check_id,
            format!("supports_websockets = true, but {url}/responses answered the WebSocket upgrade with HTTP {status}; Codex retries the upgrade several times per session before falling back to HTTP"),
            fix_off,
        ),
        Err(e) if *health == Health::ThisProxy => Check::fail(check_id, format!("supports_websockets = true, but the upgrade failed: {e}"), fix_off),
        Err(e) => Check::warn(check_id, format!("supports_websockets = true; could not test it: {e}"), fix_off),
    }
}

/// Whether `base_url` has the same scheme, host and port as `proxy_url`.
fn same_origin(base_url: Option<&str>, proxy_url: &str) -> bool {
    let (Some(a), Ok(b)) = (
        base_url.and_then(|u| reqwest::Url::parse(u).ok()),
        reqwest::Url::parse(proxy_url),
    ) else {
        return false;
    };
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_url_problems_come_with_the_fixed_url() {
        let (_, fixed) = base_url_problem("http://h:1/v1/chat/completions").unwrap_or_default();
        assert_eq!(fixed, "http://h:1/v1");
        let (_, fixed) = base_url_problem("http://h:1/v1/responses/").unwrap_or_default();
        assert_eq!(fixed, "http://h:1/v1");
        let (_, fixed) = base_url_problem("http://h:1/v1/v1").unwrap_or_default();
        assert_eq!(fixed, "http://h:1/v1");
        assert!(base_url_problem("http://h:1/kimi/v1").is_none());
    }

    #[test]
    fn origins_compare_scheme_host_and_port() {
        assert!(same_origin(
            Some("http://127.0.0.1:8280/kimi/v1"),
            "http://127.0.0.1:8280"
        ));
        assert!(!same_origin(
            Some("http://127.0.0.1:8281/v1"),
            "http://127.0.0.1:8280"
        ));
        assert!(!same_origin(None, "http://127.0.0.1:8280"));
    }
}
