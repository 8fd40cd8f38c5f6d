//! Step 1 of config loading: the JSON file as written, in serde structs that reject unknown
//! fields, parsed through `serde_path_to_error` so each unknown field and type error quotes its
//! JSON path — all of them at once, like `validate`, not only the first.
//!
//! Invariants: nothing here checks meaning (that is `validate`'s job, which reports every
//! problem at once); fields whose absence or shape `validate` can explain better (names, urls,
//! protocol, listen address) stay `Option<String>` here rather than failing at the first one.
//! Every field of a raw struct is an `Option`: `parse_raw` gets past an error by deleting the
//! member at fault, which must not turn into a "missing field" error.

use serde::Deserialize;
use serde_json::{Map, Value};

use super::{ConfigErrors, ConfigProblem};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawConfig {
    pub listen: Option<String>,
    pub log_dir: Option<String>,
    pub log_body: Option<bool>,
    pub backends: Option<Vec<RawBackend>>,
    pub telemetry: Option<super::telemetry::RawTelemetry>,
    pub metrics_listen: Option<String>,
    pub client_keys: Option<Vec<String>>,
    pub allow_unauthenticated: Option<bool>,
    pub max_body_bytes: Option<u64>,
    pub shutdown_grace_secs: Option<u64>,
    pub strict_models: Option<bool>,
    pub data_dir: Option<String>,
    pub storage: Option<super::storage::RawStorage>,
    pub admin_keys: Option<Vec<String>>,
    pub model_aliases: Option<std::collections::BTreeMap<String, String>>,
    pub pricing: Option<std::collections::BTreeMap<String, ccp_governance::pricing::PriceConfig>>,
    pub virtual_keys: Option<Vec<ccp_governance::config::VirtualKeyConfig>>,
    pub budgets: Option<Vec<ccp_governance::config::BudgetConfig>>,
    pub reserve_output_tokens: Option<u64>,
    pub cache: Option<super::cache::RawCache>,
    pub redis_url: Option<String>,
    pub model_groups: Option<Vec<super::groups::RawModelGroup>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawBackend {
    pub name: Option<String>,
    pub url: Option<String>,
    pub api_key: Option<String>,
    pub model: Option<String>,
    pub models: Option<Vec<String>>,
    pub protocol: Option<String>,
    pub provider: Option<String>,
    pub quirks: Option<Map<String, Value>>,
    pub match_rules: Option<RawMatchRules>,
    pub connect_timeout_secs: Option<u64>,
    pub first_byte_timeout_secs: Option<u64>,
    pub idle_timeout_secs: Option<u64>,
    pub total_timeout_secs: Option<u64>,
    pub max_retries: Option<u32>,
    pub keepalive_interval_secs: Option<u64>,
    pub pool_max_idle: Option<usize>,
    pub pool_idle_timeout_secs: Option<u64>,
    pub context_window: Option<u64>,
    pub max_output_tokens: Option<u64>,
    /// `responses` (Azure): the `api-version` query parameter.
    pub api_version: Option<String>,
    /// `responses`: the header that carries the key (`authorization` Bearer, `api-key`,
    /// `x-api-key`).
    pub auth_header: Option<String>,
    /// `codex`: the Codex `auth.json` holding the ChatGPT login.
    pub auth_file: Option<String>,
    /// `codex`: the OAuth token endpoint used to refresh the login.
    pub token_url: Option<String>,
    /// `anthropic`: the `anthropic-version` header.
    pub anthropic_version: Option<String>,
    /// `anthropic`: place prompt-caching breakpoints.
    pub prompt_cache: Option<bool>,
    /// `anthropic`: `max_tokens` when the request gives none.
    pub max_tokens: Option<u64>,
}

// The raw api_key may be a literal key, so Debug must not print it.
impl std::fmt::Debug for RawBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawBackend")
            .field("name", &self.name)
            .field("url", &self.url)
            .field("api_key", &self.api_key.as_ref().map(|_| "[redacted]"))
            .field("model", &self.model)
            .field("protocol", &self.protocol)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawMatchRules {
    pub path_prefix: Option<String>,
    pub models: Option<Vec<String>>,
    pub header: Option<RawHeaderRule>,
    pub default: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawHeaderRule {
    pub name: Option<String>,
    pub value: Option<String>,
}

/// Parses the file text into raw structs. A file that is not JSON at all is one problem; otherwise
/// every unknown field and type error is reported, in file order, each with its JSON path.
pub(crate) fn parse_raw(text: &str) -> Result<RawConfig, ConfigErrors> {
    let mut tree: Value =
        serde_json::from_str(text).map_err(|err| ConfigErrors(vec![syntax_problem(text, &err)]))?;
    let mut found: Vec<(Vec<Step>, ConfigProblem)> = Vec::new();
    // Each round reports the first error serde meets, then deletes the member that caused it so
    // the next round gets past it. Every deletion shrinks the tree, so the loop ends.
    let raw = loop {
        match serde_path_to_error::deserialize::<_, RawConfig>(&tree) {
            Ok(raw) => break Some(raw),
            Err(err) => {
                let steps = steps(err.path());
                let problem = problem_from_json_error(json_path(&steps), err.inner());
                let removed = remove_member(&mut tree, &steps);
                found.push((steps, problem));
                if !removed {
                    break None;
                }
            }
        }
    };
    match raw {
        Some(raw) if found.is_empty() => Ok(raw),
        _ => Err(ConfigErrors(in_file_order(text, found))),
    }
}

/// The problem for text that does not parse as JSON: the position of the syntax error, or, when
/// the file is evidently another format (TOML, YAML), that the config file must be JSON.
fn syntax_problem(text: &str, err: &serde_json::Error) -> ConfigProblem {
    match other_format(text) {
        Some(format) => ConfigProblem::new(
            "",
            format!(
                "this is not JSON (it looks like {format}; the JSON parser stopped with: {err}) — \
                 the config file is JSON: one object such as {{\"backends\": [...]}}; \
                 see config.example.json for every field"
            ),
        ),
        None => problem_from_json_error(String::new(), err),
    }
}

/// Names the format a non-JSON config file seems to be written in, judged by its first line
/// that is neither blank nor a comment; `None` when it starts like JSON (a real syntax error).
fn other_format(text: &str) -> Option<&'static str> {
    let mut lines = text
        .trim_start_matches('\u{feff}')
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty());
    let first = lines.next()?;
    if first.starts_with("//") || first.starts_with("/*") {
        return Some("JSON with comments, which JSON does not allow");
    }
    let line = if first.starts_with('#') {
        match lines.find(|l| !l.starts_with('#')) {
            Some(l) => l,
            None => return Some("TOML or YAML: it holds only # comments"),
        }
    } else {
        first
    };
    let bare_key = |k: &str| {
        !k.is_empty()
            && k.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
    };
    let toml_table =
        line.starts_with('[') && line.ends_with(']') && bare_key(line.trim_matches(['[', ']']));
    if line.starts_with('{') {
        None
    } else if toml_table
        || line
            .split_once('=')
            .is_some_and(|(k, _)| bare_key(k.trim()))
    {
        Some("TOML")
    } else if line == "---"
        || line.starts_with("- ")
        || line
            .split_once(':')
            .is_some_and(|(k, _)| bare_key(k.trim()))
    {
        Some("YAML")
    } else if first.starts_with('#') {
        Some("TOML or YAML")
    } else if line.starts_with(['[', '"', '-', 't', 'f', 'n'])
        || line.starts_with(|c: char| c.is_ascii_digit())
    {
        None
    } else {
        Some("another format")
    }
}

fn problem_from_json_error(path: String, inner: &serde_json::Error) -> ConfigProblem {
    let text = inner.to_string();
    let fix = match inner.classify() {
        serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
            "fix the JSON syntax at that position (a trailing comma or a missing quote is the usual cause)"
        }
        serde_json::error::Category::Io => "check that the file is readable",
        serde_json::error::Category::Data if text.starts_with("unknown field") => {
            "remove it or correct its spelling to one of the listed fields"
        }
        serde_json::error::Category::Data if text.starts_with("invalid type") => {
            "change the value to the expected type (see config.example.json)"
        }
        serde_json::error::Category::Data if text.starts_with("invalid value") => {
            "change the value to one in the expected range"
        }
        serde_json::error::Category::Data => "correct the value (see config.example.json)",
    };
    ConfigProblem::new(path, format!("{text} — {fix}"))
}

/// One step of a JSON path.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Key(String),
    Index(usize),
}

/// The steps of a `serde_path_to_error` path, dropping the unknown segments a syntax error
/// leaves where a key failed to parse.
fn steps(path: &serde_path_to_error::Path) -> Vec<Step> {
    use serde_path_to_error::Segment;
    path.iter()
        .filter_map(|segment| match segment {
            Segment::Seq { index } => Some(Step::Index(*index)),
            Segment::Map { key } | Segment::Enum { variant: key } => Some(Step::Key(key.clone())),
            Segment::Unknown => None,
        })
        .collect()
}

/// Formats a path the way `validate` does: `backends[1].url`, `""` for the root.
fn json_path(steps: &[Step]) -> String {
    let mut out = String::new();
    for step in steps {
        match step {
            Step::Index(index) => out.push_str(&format!("[{index}]")),
            Step::Key(key) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
            }
        }
    }
    out
}

/// Deletes the object member an error points into (the last key on its path), so the next
/// parse gets past it; the raw structs are all `Option`s, so a missing member is no new error.
/// False when there is nothing to delete (an error at the root, or in a top-level array).
fn remove_member(tree: &mut Value, steps: &[Step]) -> bool {
    let Some(last_key) = steps.iter().rposition(|s| matches!(s, Step::Key(_))) else {
        return false;
    };
    let mut node = tree;
    for step in &steps[..last_key] {
        let next = match step {
            Step::Key(key) => node.get_mut(key.as_str()),
            Step::Index(index) => node.get_mut(*index),
        };
        match next {
            Some(next) => node = next,
            None => return false,
        }
    }
    match (&steps[last_key], node.as_object_mut()) {
        (Step::Key(key), Some(object)) => object.remove(key).is_some(),
        _ => false,
    }
}

/// Sorts problems into the order their members appear in the file. `serde_json`'s `Map` keeps
/// keys sorted, so the problems were found in alphabetical order within each object.
fn in_file_order(text: &str, mut found: Vec<(Vec<Step>, ConfigProblem)>) -> Vec<ConfigProblem> {
    if found.len() > 1 {
        if let Ok(layout) = serde_json::from_str::<Layout>(text) {
            found.sort_by_cached_key(|(steps, _)| layout.position(steps));
        }
    }
    found.into_iter().map(|(_, problem)| problem).collect()
}

/// The shape of the file with object keys in file order; only used to order problems.
enum Layout {
    Object(Vec<(String, Layout)>),
    Array(Vec<Layout>),
    Scalar,
}

impl Layout {
    /// The indices of each step's member within its parent, in file order; a step that is not
    /// in the file sorts last.
    fn position(&self, steps: &[Step]) -> Vec<usize> {
        let mut out = Vec::with_capacity(steps.len());
        let mut node = self;
        for step in steps {
            let found = match (node, step) {
                (Layout::Object(members), Step::Key(key)) => members
                    .iter()
                    .rposition(|(k, _)| k == key)
                    .map(|i| (i, &members[i].1)),
                (Layout::Array(items), Step::Index(index)) => {
                    items.get(*index).map(|item| (*index, item))
                }
                _ => None,
            };
            match found {
                Some((index, child)) => {
                    out.push(index);
                    node = child;
                }
                None => {
                    out.push(usize::MAX);
                    break;
                }
            }
        }
        out
    }
}

impl<'de> Deserialize<'de> for Layout {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(LayoutVisitor)
    }
}

struct LayoutVisitor;

impl<'de> serde::de::Visitor<'de> for LayoutVisitor {
    type Value = Layout;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<Layout, E> {
        Ok(Layout::Scalar)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Layout, E> {
        Ok(Layout::Scalar)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Layout, E> {
        Ok(Layout::Scalar)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Layout, E> {
        Ok(Layout::Scalar)
    }

    fn visit_str<E>(self, _: &str) -> Result<Layout, E> {
        Ok(Layout::Scalar)
    }

    fn visit_unit<E>(self) -> Result<Layout, E> {
        Ok(Layout::Scalar)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Layout, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Layout::Array(items))
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Layout, A::Error> {
        let mut members = Vec::new();
        while let Some(member) = map.next_entry()? {
            members.push(member);
        }
        Ok(Layout::Object(members))
    }
}
