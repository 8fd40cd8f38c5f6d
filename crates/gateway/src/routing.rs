//! Picks the backend for a request and the model name sent upstream.
//!
//! Rules are tried in a fixed order, the first hit wins: (1) path prefix — on a segment
//! boundary, longest prefix first, and stripped from the path; (2) model group — the first of
//! `model_groups` whose `model` (exact or `*` glob) matches: the route names the group, whose
//! backends `crate::groups` orders per request; (3) model — each backend's `match_rules.models`
//! (exact names or `*` globs), in config order; (4) header — exact value, case-insensitive name,
//! in config order; (5) the default backend.
//!
//! Invariants: `resolve` always returns a valid backend index (a validated [`Config`] has
//! exactly one default); `Route::rest` always starts with '/'. The upstream model is the
//! request's model when the chosen backend serves it by name (`model` or `models`), otherwise
//! the backend's `model`.

use http::HeaderName;

use crate::config::Config;

/// Response header naming the backend that served the request.
pub const BACKEND_HEADER: HeaderName = HeaderName::from_static("x-ccp-backend");
/// Response header naming the model sent upstream.
pub const UPSTREAM_MODEL_HEADER: HeaderName = HeaderName::from_static("x-ccp-upstream-model");

/// How the backend was chosen (for logs and tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchedBy {
    PathPrefix,
    /// A model group's `model`; [`Route::group`] names the group.
    ModelGroup,
    Model,
    Header,
    Default,
}

/// The outcome of routing one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// Index into `Config::backends`. For a model group: its first backend (the one a
    /// `fallback` group tries first); the group decides per request.
    pub backend: usize,
    /// Index into `Config::model_groups` when a group serves the request.
    pub group: Option<usize>,
    /// The request path with the matched prefix removed (`/kimi/v1/responses` →
    /// `/v1/responses`; `/kimi` → `/`); unchanged when no prefix matched.
    pub rest: String,
    /// The model name to send upstream.
    pub upstream_model: String,
    pub matched_by: MatchedBy,
}

#[derive(Debug, Clone)]
struct Entry {
    name: String,
    path_prefix: Option<String>,
    model_patterns: Vec<String>,
    header: Option<(String, String)>,
    model: String,
    models: Vec<String>,
}

/// Routing table built from a [`Config`]; cheap to build, immutable afterwards.
#[derive(Debug, Clone)]
pub struct Router {
    entries: Vec<Entry>,
    /// Each model group's `model` pattern and its first backend, in config order.
    groups: Vec<(String, usize)>,
    default: usize,
}

impl Router {
    pub fn new(config: &Config) -> Self {
        let entries = config
            .backends
            .iter()
            .map(|b| Entry {
                name: b.name.clone(),
                path_prefix: b.match_rules.path_prefix.clone(),
                model_patterns: b.match_rules.models.clone(),
                header: b
                    .match_rules
                    .header
                    .as_ref()
                    .map(|h| (h.name.to_ascii_lowercase(), h.value.clone())),
                model: b.model.clone(),
                models: b.models.clone(),
            })
            .collect();
        let groups = config
            .model_groups
            .iter()
            .map(|g| (g.model.clone(), g.backends.first().copied().unwrap_or(0)))
            .collect();
        Self {
            entries,
            groups,
            default: config.default_backend_index(),
        }
    }

    /// Routes a request. `headers` looks a header up by lower-case name.
    pub fn resolve(
        &self,
        path: &str,
        model: Option<&str>,
        headers: &dyn Fn(&str) -> Option<String>,
    ) -> Route {
        let mut group = None;
        let (backend, rest, matched_by) = if let Some((i, rest)) = self.match_prefix(path) {
            (i, rest, MatchedBy::PathPrefix)
        } else {
            let rest = path.to_owned();
            if let Some((g, first)) = model.and_then(|m| self.match_group(m)) {
                group = Some(g);
                (first, rest, MatchedBy::ModelGroup)
            } else if let Some(i) = model.and_then(|m| self.match_model(m)) {
                (i, rest, MatchedBy::Model)
            } else if let Some(i) = self.match_header(headers) {
                (i, rest, MatchedBy::Header)
            } else {
                (self.default, rest, MatchedBy::Default)
            }
        };
        let upstream_model = self.upstream_model(backend, model);
        Route {
            backend,
            group,
            rest,
            upstream_model,
            matched_by,
        }
    }

    /// The model `backend` is sent for a request that asked for `requested` (a model group
    /// asks each of its backends this way).
    pub fn upstream_model_for(&self, backend: usize, requested: Option<&str>) -> String {
        self.upstream_model(backend, requested)
    }

    /// Every model name served as-is, with the backend serving it, in config order: non-glob
    /// model group names (with the group's first backend), then each backend's `model`, its
    /// `models`, then non-glob `match_rules.models`. A name is listed once, for the first
    /// backend that names it.
    pub fn served_models(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = Vec::new();
        for (pattern, first) in &self.groups {
            let Some(e) = self.entries.get(*first) else {
                continue;
            };
            if !pattern.contains('*') && !out.iter().any(|(seen, _)| seen == pattern) {
                out.push((pattern.clone(), e.name.clone()));
            }
        }
        for e in &self.entries {
            let exact_patterns = e.model_patterns.iter().filter(|p| !p.contains('*'));
            for m in std::iter::once(&e.model)
                .chain(&e.models)
                .chain(exact_patterns)
            {
                if !out.iter().any(|(seen, _)| seen == m) {
                    out.push((m.clone(), e.name.clone()));
                }
            }
        }
        out
    }

    /// The path with a backend's `path_prefix` removed (the endpoint part), without routing.
    pub fn path_after_prefix(&self, path: &str) -> String {
        self.match_prefix(path)
            .map(|(_, rest)| rest)
            .unwrap_or_else(|| path.to_owned())
    }

    fn match_prefix(&self, path: &str) -> Option<(usize, String)> {
        let mut best: Option<(usize, usize, String)> = None;
        for (i, e) in self.entries.iter().enumerate() {
            let Some(prefix) = e.path_prefix.as_deref() else {
                continue;
            };
            let Some(rest) = strip_segment_prefix(path, prefix) else {
                continue;
            };
            if best.as_ref().is_none_or(|(len, _, _)| prefix.len() > *len) {
                best = Some((prefix.len(), i, rest));
            }
        }
        best.map(|(_, i, rest)| (i, rest))
    }

    fn match_group(&self, model: &str) -> Option<(usize, usize)> {
        self.groups
            .iter()
            .position(|(p, _)| glob_match(p, model))
            .map(|g| (g, self.groups[g].1))
    }

    fn match_model(&self, model: &str) -> Option<usize> {
        self.entries
            .iter()
            .position(|e| e.model_patterns.iter().any(|p| glob_match(p, model)))
    }

    fn match_header(&self, headers: &dyn Fn(&str) -> Option<String>) -> Option<usize> {
        self.entries.iter().position(|e| match &e.header {
            Some((name, value)) => headers(name).as_deref() == Some(value.as_str()),
            None => false,
        })
    }

    fn upstream_model(&self, backend: usize, requested: Option<&str>) -> String {
        let Some(e) = self.entries.get(backend) else {
            return requested.unwrap_or_default().to_owned();
        };
        match requested {
            Some(m) if e.model == m || e.models.iter().any(|x| x == m) => m.to_owned(),
            _ => e.model.clone(),
        }
    }
}

/// `Some(rest)` when `path` is `prefix` itself or continues it with '/'; rest starts with '/'.
fn strip_segment_prefix(path: &str, prefix: &str) -> Option<String> {
    let rest = path.strip_prefix(prefix)?;
    if rest.is_empty() {
        Some("/".to_owned())
    } else if rest.starts_with('/') {
        Some(rest.to_owned())
    } else {
        None
    }
}

/// Matches `text` against `pattern`, where `*` stands for any run of characters (possibly
/// empty) and every other character matches itself.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    // Position of the last '*' seen and the text position it is currently absorbing up to;
    // on a mismatch we let that star absorb one more character and retry.
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if let Some((star_pi, star_ti)) = star {
            pi = star_pi + 1;
            ti = star_ti + 1;
            star = Some((star_pi, star_ti + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_str;

    const CONFIG: &str = r#"{
      "backends": [
        {"name": "glm", "url": "https://open.bigmodel.cn/api/coding/paas/v4", "model": "glm-5",
         "models": ["glm-4.6"], "match_rules": {"default": true}},
        {"name": "kimi", "url": "https://api.moonshot.cn/v1", "model": "moonshot-v1-8k",
         "models": ["kimi-k2"], "match_rules": {"path_prefix": "/kimi"}},
        {"name": "kimi-team", "url": "https://api.moonshot.cn/v1", "model": "kimi-k2",
         "match_rules": {"path_prefix": "/kimi/team"}},
        {"name": "deepseek", "url": "https://api.deepseek.com/v1", "model": "deepseek-chat",
         "models": ["deepseek-reasoner"],
         "match_rules": {"path_prefix": "/deepseek", "models": ["deepseek-*", "*-r1*"]}},
        {"name": "local", "url": "http://127.0.0.1:11434/v1", "model": "qwen3",
         "match_rules": {"header": {"name": "X-CCP-Backend", "value": "local"},
                         "models": ["qwen3"]}}
      ]
    }"#;

    fn router() -> (Router, Config) {
        let config = parse_str(CONFIG, &|_| None).unwrap();
        (Router::new(&config), config)
    }

    fn no_headers(_: &str) -> Option<String> {
        None
    }

    fn name_of(config: &Config, route: &Route) -> String {
        config.backends[route.backend].name.clone()
    }

    #[test]
    fn prefix_matches_on_segment_boundary_and_strips_it() {
        let (r, c) = router();
        for (path, rest) in [
            ("/kimi", "/"),
            ("/kimi/responses", "/responses"),
            ("/kimi/v1/responses", "/v1/responses"),
        ] {
            let route = r.resolve(path, None, &no_headers);
            assert_eq!(name_of(&c, &route), "kimi", "{path}");
            assert_eq!(route.rest, rest, "{path}");
            assert_eq!(route.matched_by, MatchedBy::PathPrefix);
        }
        let route = r.resolve("/kimiX/v1/responses", None, &no_headers);
        assert_eq!(name_of(&c, &route), "glm");
        assert_eq!(route.rest, "/kimiX/v1/responses");
        assert_eq!(route.matched_by, MatchedBy::Default);
    }

    #[test]
    fn path_after_prefix_is_the_routes_rest() {
        let (r, _) = router();
        for path in [
            "/kimi/v1/responses",
            "/kimi/team/v1/responses",
            "/kimiX/v1/responses",
            "/",
        ] {
            let route = r.resolve(path, None, &no_headers);
            assert_eq!(r.path_after_prefix(path), route.rest, "{path}");
        }
    }

    #[test]
    fn longest_prefix_wins() {
        let (r, c) = router();
        let route = r.resolve("/kimi/team/v1/responses", None, &no_headers);
        assert_eq!(name_of(&c, &route), "kimi-team");
        assert_eq!(route.rest, "/v1/responses");
        let route = r.resolve("/kimi/teamX/responses", None, &no_headers);
        assert_eq!(name_of(&c, &route), "kimi");
        assert_eq!(route.rest, "/teamX/responses");
    }

    #[test]
    fn model_glob_routes_when_no_prefix() {
        let (r, c) = router();
        let route = r.resolve("/v1/responses", Some("deepseek-reasoner"), &no_headers);
        assert_eq!(name_of(&c, &route), "deepseek");
        assert_eq!(route.matched_by, MatchedBy::Model);
        assert_eq!(route.rest, "/v1/responses");
        let route = r.resolve("/v1/responses", Some("some-r1-distill"), &no_headers);
        assert_eq!(name_of(&c, &route), "deepseek");
    }

    #[test]
    fn header_routes_case_insensitively_with_exact_value() {
        let (r, c) = router();
        // The server's lookup is case-insensitive; the router asks by lower-case name.
        let headers = |name: &str| (name == "x-ccp-backend").then(|| "local".to_owned());
        let route = r.resolve("/v1/responses", Some("gpt-5-codex"), &headers);
        assert_eq!(name_of(&c, &route), "local");
        assert_eq!(route.matched_by, MatchedBy::Header);
        let wrong = |name: &str| (name == "x-ccp-backend").then(|| "Local".to_owned());
        let route = r.resolve("/v1/responses", Some("gpt-5-codex"), &wrong);
        assert_eq!(name_of(&c, &route), "glm");
    }

    #[test]
    fn default_catches_everything_else() {
        let (r, c) = router();
        let route = r.resolve("/v1/responses", Some("gpt-5-codex"), &no_headers);
        assert_eq!(name_of(&c, &route), "glm");
        assert_eq!(route.matched_by, MatchedBy::Default);
        let route = r.resolve("/responses", None, &no_headers);
        assert_eq!(name_of(&c, &route), "glm");
        assert_eq!(route.upstream_model, "glm-5");
    }

    #[test]
    fn precedence_is_prefix_then_model_then_header() {
        let (r, c) = router();
        let local = |name: &str| (name == "x-ccp-backend").then(|| "local".to_owned());
        // Prefix beats a model glob and a header that point elsewhere.
        let route = r.resolve("/kimi/v1/responses", Some("deepseek-chat"), &local);
        assert_eq!(name_of(&c, &route), "kimi");
        assert_eq!(route.matched_by, MatchedBy::PathPrefix);
        // Model beats header.
        let route = r.resolve("/v1/responses", Some("deepseek-chat"), &local);
        assert_eq!(name_of(&c, &route), "deepseek");
        assert_eq!(route.matched_by, MatchedBy::Model);
        // The first backend in config order wins among model rules ("qwen3" is only "local").
        let route = r.resolve("/v1/responses", Some("qwen3"), &no_headers);
        assert_eq!(name_of(&c, &route), "local");
    }

    #[test]
    fn upstream_model_passes_through_served_names_and_substitutes_others() {
        let (r, _) = router();
        let kimi = |m: Option<&str>| r.resolve("/kimi/v1/responses", m, &no_headers);
        assert_eq!(
            kimi(Some("moonshot-v1-8k")).upstream_model,
            "moonshot-v1-8k"
        );
        assert_eq!(kimi(Some("kimi-k2")).upstream_model, "kimi-k2");
        assert_eq!(kimi(Some("gpt-5-codex")).upstream_model, "moonshot-v1-8k");
        assert_eq!(kimi(None).upstream_model, "moonshot-v1-8k");
        // A glob-matched name that the backend does not list is replaced by its model.
        let route = r.resolve("/v1/responses", Some("deepseek-v9"), &no_headers);
        assert_eq!(route.upstream_model, "deepseek-chat");
        let route = r.resolve("/v1/responses", Some("deepseek-reasoner"), &no_headers);
        assert_eq!(route.upstream_model, "deepseek-reasoner");
    }

    #[test]
    fn served_models_lists_each_name_once_with_its_backend() {
        let (r, _) = router();
        let served = r.served_models();
        let pair = |m: &str, b: &str| (m.to_owned(), b.to_owned());
        assert_eq!(
            served,
            vec![
                pair("glm-5", "glm"),
                pair("glm-4.6", "glm"),
                pair("moonshot-v1-8k", "kimi"),
                pair("kimi-k2", "kimi"),
                pair("deepseek-chat", "deepseek"),
                pair("deepseek-reasoner", "deepseek"),
                pair("qwen3", "local"),
            ]
        );
    }

    #[test]
    fn a_model_group_comes_after_the_prefix_and_before_model_rules() {
        let text = CONFIG.trim_end().trim_end_matches('}').to_owned()
            + r#", "model_groups": [{"model": "deepseek-*", "backends": ["local", "deepseek"]},
                                   {"model": "group-only", "backends": ["kimi"]}]}"#;
        let config = parse_str(&text, &|_| None).unwrap();
        let r = Router::new(&config);
        let route = r.resolve("/v1/responses", Some("deepseek-chat"), &no_headers);
        assert_eq!(route.matched_by, MatchedBy::ModelGroup);
        assert_eq!(route.group, Some(0));
        assert_eq!(name_of(&config, &route), "local");
        assert_eq!(route.upstream_model, "qwen3");
        assert_eq!(
            r.upstream_model_for(3, Some("deepseek-reasoner")),
            "deepseek-reasoner"
        );
        // A path prefix still names its backend.
        let route = r.resolve("/deepseek/v1/responses", Some("deepseek-chat"), &no_headers);
        assert_eq!(
            (route.group, name_of(&config, &route)),
            (None, "deepseek".into())
        );
        let route = r.resolve("/v1/responses", Some("glm-5"), &no_headers);
        assert_eq!(route.group, None);
        let served = r.served_models();
        assert_eq!(served[0], ("group-only".to_owned(), "kimi".to_owned()));
        assert!(!served.iter().any(|(m, _)| m.contains('*')));
    }

    #[test]
    fn glob_matcher() {
        for (pattern, text, want) in [
            ("kimi-*", "kimi-k2", true),
            ("kimi-*", "kimi-", true),
            ("kimi-*", "kimi", false),
            ("*-r1", "deepseek-r1", true),
            ("*-r1", "deepseek-r1x", false),
            ("a*b*c", "aXXbYYc", true),
            ("a*b*c", "abc", true),
            ("a*b*c", "acb", false),
            ("*", "", true),
            ("*", "anything", true),
            ("**x", "yyx", true),
            ("exact", "exact", true),
            ("exact", "exactly", false),
            ("", "", true),
            ("", "x", false),
            ("a*aab", "aaaab", true),
            ("ü*", "über", true),
        ] {
            assert_eq!(glob_match(pattern, text), want, "{pattern} vs {text}");
        }
    }
}
