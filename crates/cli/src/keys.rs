//! `codex-convert-proxy keys create|list|show|update|revoke`: manage virtual keys in the
//! config's store directly, with no proxy running — the same operations, validation and output
//! shapes as the admin API (`/admin/v1/keys`, docs/admin.md).
//!
//! A running proxy on the same store sees a new or changed key on its next lookup and a
//! revocation within about a second: through Redis when `redis_url` is set (the command sends the
//! revocation notice), else when its cached copy of the key refreshes. A key's secret is printed
//! once, by `create`; nothing else prints a secret or a hash.

use std::process::ExitCode;

use ccp_gateway::config::Config;
use ccp_gateway::govern::keys::KeySpec;
use ccp_gateway::govern::Governor;
use clap::{Args as ClapArgs, Subcommand};
use serde_json::{json, Map, Value};

/// `keys` and its subcommands.
#[derive(Debug, ClapArgs)]
pub struct Args {
    /// Print JSON (the admin API's shapes) instead of text.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: KeysCommand,
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Create a key; its secret is printed this once.
    Create(Settings),
    /// List every key (the config's and the store's), without secrets.
    List,
    /// Show one key.
    Show {
        /// The key's id (`vk_…`, or `cfg:<name>` for a key in the config).
        id: String,
    },
    /// Change a stored key's settings (the options given; the rest stay).
    Update {
        /// The key's id (`vk_…`).
        id: String,
        #[command(flatten)]
        settings: Settings,
    },
    /// Revoke a stored key, for good, on every proxy using this store.
    Revoke {
        /// The key's id (`vk_…`).
        id: String,
    },
}

/// A key's settings as options (names as in the config's `virtual_keys`).
#[derive(Debug, Default, ClapArgs)]
struct Settings {
    /// A label, e.g. eng-laptop-1 (required by `create`).
    #[arg(long)]
    name: Option<String>,
    /// Who the key belongs to (budgets can be per principal).
    #[arg(long)]
    principal: Option<String>,
    /// The key's team (budgets can be per team).
    #[arg(long)]
    team: Option<String>,
    /// A model name or `*` glob the key may use (repeat; none given: every model).
    #[arg(long = "model", value_name = "MODEL")]
    models: Vec<String>,
    /// A model alias for this key's clients (repeat).
    #[arg(long = "alias", value_name = "FROM=TO")]
    aliases: Vec<String>,
    /// A budget (repeat): scope key|principal|team|global, window day|week|month, a limit in
    /// USD, optionally the warning share (default 0.8).
    #[arg(long = "budget", value_name = "SCOPE:WINDOW:USD[:WARN]")]
    budgets: Vec<String>,
    /// Requests per minute.
    #[arg(long)]
    rpm: Option<u64>,
    /// Tokens per minute.
    #[arg(long)]
    tpm: Option<u64>,
    /// The response cache for this key: respect or disable.
    #[arg(long)]
    cache: Option<String>,
    /// When the key stops working (RFC 3339, e.g. 2026-12-31T23:59:59Z).
    #[arg(long, value_name = "TIME")]
    expires_at: Option<String>,
    /// Metadata returned verbatim (repeat).
    #[arg(long = "meta", value_name = "KEY=VALUE")]
    metadata: Vec<String>,
    /// All settings as one JSON object (the admin API's body); options override its fields.
    #[arg(long, value_name = "JSON")]
    spec: Option<String>,
}

/// Runs `keys`.
pub fn run(config_path: &std::path::Path, args: Args) -> ExitCode {
    let config = match crate::load_config(config_path) {
        Ok(c) => c,
        Err(code) => return code,
    };
    // The governor's own warnings (a revocation notice that did not reach Redis) go to stderr.
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(tracing::Level::WARN)
        .try_init();
    let rt = match crate::runtime(Some(1)) {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    rt.block_on(async move {
        let (governor, store, redis) = match open(&config).await {
            Ok(g) => g,
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::from(2);
            }
        };
        let outcome = execute(&governor, args.command, args.json, redis).await;
        governor.flush_ledger().await;
        store.close().await;
        match outcome {
            Ok(text) => {
                print!("{text}");
                ExitCode::SUCCESS
            }
            Err(message) => {
                eprintln!("{message}");
                ExitCode::FAILURE
            }
        }
    })
}

/// The store and governance of `config`, as the proxy opens them, and whether they reach Redis.
/// An unreachable Redis is not fatal here: keys live in the store; only the revocation notice
/// needs Redis.
async fn open(config: &Config) -> Result<(Governor, ccp_store::Store, bool), String> {
    let store = ccp_store::Store::open(config.storage.location.expose())
        .await
        .map_err(|e| {
            format!(
                "cannot open the store at {}: {e}",
                config.storage.display_location()
            )
        })?;
    let governor = match Governor::open(&config.governance, &store).await {
        Ok(g) => (g, config.governance.redis_url.is_some()),
        Err(e) if config.governance.redis_url.is_some() => {
            eprintln!(
                "warning: {e}; going on without it (running proxies see changes when their \
                 cached copy of a key refreshes, within about a second)"
            );
            let mut local = config.governance.clone();
            local.redis_url = None;
            (Governor::open(&local, &store).await?, false)
        }
        Err(e) => return Err(e),
    };
    Ok((governor.0, store, governor.1))
}

async fn execute(
    governor: &Governor,
    command: KeysCommand,
    json_out: bool,
    redis: bool,
) -> Result<String, String> {
    let err = |e: ccp_gateway::GatewayError| e.to_string();
    match command {
        KeysCommand::Create(settings) => {
            let spec = settings.to_spec(None)?;
            if !governor.keys_possible() {
                eprintln!(
                    "warning: the config sets neither admin_keys nor virtual_keys, so the proxy \
                     does not check virtual keys and will not ask for this one; add admin_keys \
                     to turn virtual keys on"
                );
            }
            let view = governor.create_key(spec).await.map_err(err)?;
            Ok(if json_out {
                pretty(&view)
            } else {
                created_text(&view)
            })
        }
        KeysCommand::List => {
            let keys = governor.list_keys().await.map_err(err)?;
            Ok(if json_out {
                pretty(&json!({"object": "list", "data": keys}))
            } else {
                table(&keys)
            })
        }
        KeysCommand::Show { id } => {
            let view = governor.get_key(&id).await.map_err(err)?;
            Ok(if json_out {
                pretty(&view)
            } else {
                details(&view)
            })
        }
        KeysCommand::Update { id, settings } => {
            let current = governor.get_key(&id).await.map_err(err)?;
            let spec = settings.to_spec(Some(&current))?;
            let view = governor.update_key(&id, spec).await.map_err(err)?;
            Ok(if json_out {
                pretty(&view)
            } else {
                format!("Updated {id}.\n{}", details(&view))
            })
        }
        KeysCommand::Revoke { id } => {
            let view = governor.revoke_key(&id).await.map_err(err)?;
            Ok(if json_out {
                pretty(&view)
            } else {
                let reach = if redis {
                    "proxies sharing this store refuse it within a second (notice sent through \
                     Redis)"
                } else {
                    "proxies on this store refuse it within about a second, when their cached \
                     copy refreshes (no redis_url)"
                };
                format!(
                    "Revoked {id} ({}); {reach}.\n",
                    view["name"].as_str().unwrap_or_default()
                )
            })
        }
    }
}

impl Settings {
    /// The settings as the admin API's body, then as a [`KeySpec`]; `current` (on update) fills
    /// the half of `rate_limits` not given, so `--rpm` alone keeps the key's `tpm`.
    fn to_spec(&self, current: Option<&Value>) -> Result<KeySpec, String> {
        let mut body = match &self.spec {
            Some(text) => match serde_json::from_str::<Value>(text) {
                Ok(Value::Object(map)) => map,
                Ok(_) => return Err("--spec must be a JSON object".into()),
                Err(e) => return Err(format!("--spec is not JSON: {e}")),
            },
            None => Map::new(),
        };
        let mut set = |field: &str, value: Value| {
            body.insert(field.to_owned(), value);
        };
        for (field, value) in [
            ("name", &self.name),
            ("principal", &self.principal),
            ("team", &self.team),
            ("cache", &self.cache),
            ("expires_at", &self.expires_at),
        ] {
            if let Some(v) = value {
                set(field, json!(v));
            }
        }
        if !self.models.is_empty() {
            set("models_allowed", json!(self.models));
        }
        if !self.aliases.is_empty() {
            set(
                "model_aliases",
                Value::Object(pairs("--alias", &self.aliases)?),
            );
        }
        if !self.metadata.is_empty() {
            set("metadata", Value::Object(pairs("--meta", &self.metadata)?));
        }
        if !self.budgets.is_empty() {
            let budgets = self
                .budgets
                .iter()
                .map(|b| budget(b))
                .collect::<Result<Vec<_>, _>>()?;
            set("budgets", Value::Array(budgets));
        }
        if self.rpm.is_some() || self.tpm.is_some() {
            let now = current.map(|c| &c["rate_limits"]);
            let pick = |given: Option<u64>, field: &str| {
                given.map_or_else(
                    || now.map_or(Value::Null, |n| n[field].clone()),
                    |v| json!(v),
                )
            };
            set(
                "rate_limits",
                json!({"rpm": pick(self.rpm, "rpm"), "tpm": pick(self.tpm, "tpm")}),
            );
        }
        let text = Value::Object(body).to_string();
        let mut de = serde_json::Deserializer::from_str(&text);
        serde_path_to_error::deserialize(&mut de).map_err(|e| {
            let path = e.path().to_string();
            format!("invalid key settings at `{path}`: {}", e.into_inner())
        })
    }
}

/// `FROM=TO` pairs as a JSON object.
fn pairs(option: &str, items: &[String]) -> Result<Map<String, Value>, String> {
    items
        .iter()
        .map(|item| match item.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_owned(), json!(v.trim()))),
            _ => Err(format!("{option} takes NAME=VALUE, not {item:?}")),
        })
        .collect()
}

/// `SCOPE:WINDOW:USD[:WARN]` as a budget object.
fn budget(text: &str) -> Result<Value, String> {
    let parts: Vec<&str> = text.split(':').collect();
    let number = |s: &str| {
        s.parse::<f64>()
            .map_err(|_| format!("--budget {text:?}: {s:?} is not a number"))
    };
    match parts.as_slice() {
        [scope, window, usd] => {
            Ok(json!({"scope": scope, "window": window, "limit_usd": number(usd)?}))
        }
        [scope, window, usd, warn] => Ok(json!({"scope": scope, "window": window,
                                               "limit_usd": number(usd)?, "warn_at": number(warn)?})),
        _ => Err(format!(
            "--budget takes SCOPE:WINDOW:USD[:WARN] (e.g. key:month:50 or team:day:20:0.9), \
             not {text:?}"
        )),
    }
}

fn pretty(v: &Value) -> String {
    let mut text = serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string());
    text.push('\n');
    text
}

fn created_text(view: &Value) -> String {
    format!(
        "Created virtual key {} ({}).\n\
         Its secret, shown this once (store it now; it cannot be shown again):\n\n    {}\n\n\
         Clients send it as their API key (Authorization: Bearer …).\n",
        view["id"].as_str().unwrap_or_default(),
        view["name"].as_str().unwrap_or_default(),
        view["key"].as_str().unwrap_or_default(),
    )
}

/// A field of a key's view as one short cell.
fn cell(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        Value::Array(items) if items.is_empty() => "-".into(),
        Value::Array(items) => items.iter().map(cell).collect::<Vec<_>>().join(","),
        other => other.to_string(),
    }
}

fn table(keys: &[Value]) -> String {
    if keys.is_empty() {
        return "No virtual keys. Create one with `codex-convert-proxy keys create --name …`.\n"
            .into();
    }
    let columns = [
        "id",
        "name",
        "status",
        "principal",
        "team",
        "models_allowed",
        "expires_at",
    ];
    let rows: Vec<Vec<String>> = keys
        .iter()
        .map(|k| columns.iter().map(|c| cell(&k[*c])).collect())
        .collect();
    let widths: Vec<usize> = columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            rows.iter()
                .map(|r| r[i].chars().count())
                .chain([c.len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: Vec<String>| {
        let mut out = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect::<Vec<_>>()
            .join("  ");
        out.truncate(out.trim_end().len());
        out.push('\n');
        out
    };
    let mut out = line(columns.iter().map(|c| c.to_ascii_uppercase()).collect());
    for row in rows {
        out.push_str(&line(row));
    }
    out
}

fn details(view: &Value) -> String {
    let mut out = String::new();
    if let Some(map) = view.as_object() {
        for (k, v) in map {
            let shown = match v {
                Value::Object(_) | Value::Array(_) => v.to_string(),
                other => cell(other),
            };
            out.push_str(&format!("{k:<15} {shown}\n"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    #[test]
    fn options_become_the_admin_api_body() {
        let settings = Settings {
            name: Some("eng".into()),
            models: vec!["kimi-*".into()],
            aliases: vec!["gpt-4o=kimi-k2.6".into()],
            budgets: vec!["key:month:50".into(), "team:day:20:0.9".into()],
            rpm: Some(60),
            metadata: vec!["ticket=OPS-1".into()],
            spec: Some(r#"{"team": "core", "name": "overridden"}"#.into()),
            ..Settings::default()
        };
        let spec = settings.to_spec(None).unwrap();
        assert_eq!(spec.name.as_deref(), Some("eng"));
        assert_eq!(spec.team.as_deref(), Some("core"));
        assert_eq!(spec.models_allowed, Some(vec!["kimi-*".to_owned()]));
        assert_eq!(spec.model_aliases.unwrap()["gpt-4o"], "kimi-k2.6");
        assert_eq!(spec.budgets.as_ref().unwrap().len(), 2);
        assert_eq!(spec.rate_limits.unwrap().rpm, Some(60));
        assert_eq!(spec.metadata.unwrap()["ticket"], "OPS-1");
    }

    #[test]
    fn rpm_alone_keeps_the_current_tpm() {
        let settings = Settings {
            rpm: Some(5),
            ..Settings::default()
        };
        let current = json!({"rate_limits": {"rpm": 60, "tpm": 1000}});
        let limits = settings
            .to_spec(Some(&current))
            .unwrap()
            .rate_limits
            .unwrap();
        assert_eq!((limits.rpm, limits.tpm), (Some(5), Some(1000)));
    }

    #[test]
    fn malformed_options_say_what_is_expected() {
        let bad = |s: Settings| s.to_spec(None).unwrap_err();
        let e = bad(Settings {
            budgets: vec!["month:50".into()],
            ..Settings::default()
        });
        assert!(e.contains("SCOPE:WINDOW:USD"), "{e}");
        let e = bad(Settings {
            aliases: vec!["gpt-4o".into()],
            ..Settings::default()
        });
        assert!(e.contains("NAME=VALUE"), "{e}");
        let e = bad(Settings {
            budgets: vec!["key:year:5".into()],
            ..Settings::default()
        });
        assert!(e.contains("budgets[0].window"), "{e}");
        let e = bad(Settings {
            spec: Some("[1]".into()),
            ..Settings::default()
        });
        assert!(e.contains("JSON object"), "{e}");
    }

    #[test]
    fn the_table_has_a_column_per_field_and_no_secret() {
        let keys = vec![json!({"id": "vk_1", "name": "eng", "status": "active",
                               "principal": null, "team": "core",
                               "models_allowed": ["kimi-*", "glm-5"], "expires_at": null})];
        let text = table(&keys);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("ID"), "{text}");
        assert!(
            lines[1].contains("vk_1") && lines[1].contains("kimi-*,glm-5"),
            "{text}"
        );
    }
}
