use std::path::{Path, PathBuf};
use std::time::Duration;

use super::*;

const USER_CONFIG: &str = r#"{"listen":"0.0.0.0:8280","log_dir":"./logs","log_body":false,
 "backends":[
  {"name":"glm","url":"https://open.bigmodel.cn/api/coding/paas/v4","api_key":"sk-abc123glmSECRET","model":"glm-5","protocol":"openai","match_rules":{"default":true}},
  {"name":"kimi","url":"https://api.moonshot.cn/v1","api_key":"sk-abc123kimiSECRET","model":"moonshot-v1-8k","protocol":"openai","match_rules":{"path_prefix":"/kimi"}},
  {"name":"deepseek","url":"https://api.deepseek.com/v1","api_key":"sk-abc123deepseekSECRET","model":"deepseek-chat","protocol":"openai","match_rules":{"path_prefix":"/deepseek"}}],
 "telemetry":{"enabled":false,"service_name":"codex-convert-proxy","otlp_endpoint":"http://localhost:4317"}}"#;

fn no_env(_: &str) -> Option<String> {
    None
}

use super::env::tests::env_of;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A one-backend config whose backend is `backend` (a JSON object body without braces).
fn with_backend(backend: &str) -> String {
    format!(r#"{{"backends": [{{{backend}, "match_rules": {{"default": true}}}}]}}"#)
}

#[test]
fn users_existing_config_loads() {
    let config = parse_str(USER_CONFIG, &no_env).unwrap();
    assert_eq!(config.listen.to_string(), "0.0.0.0:8280");
    assert!(!config.is_loopback_listen());
    assert_eq!(config.log_dir, PathBuf::from("./logs"));
    assert_eq!(config.backends.len(), 3);
    let kimi = config.backend("kimi").unwrap();
    assert_eq!(kimi.protocol, Protocol::Chat);
    assert_eq!(kimi.match_rules.path_prefix.as_deref(), Some("/kimi"));
    assert_eq!(
        kimi.api_key.as_ref().map(Secret::expose),
        Some("sk-abc123kimiSECRET")
    );
    assert!(!kimi.key_missing);
    assert_eq!(config.default_backend_index(), 0);
    assert!(!config.telemetry.enabled);
    assert_eq!(config.telemetry.otlp_endpoint, "http://localhost:4317");
}

#[test]
fn defaults_apply_when_fields_are_omitted() {
    let config = parse_str(
        &with_backend(r#""name": "m", "protocol": "mock", "model": "mock-model""#),
        &no_env,
    )
    .unwrap();
    assert_eq!(config.listen.to_string(), "127.0.0.1:8280");
    assert!(config.is_loopback_listen());
    assert_eq!(config.log_dir, PathBuf::from("./logs"));
    assert!(!config.log_body);
    assert!(!config.allow_unauthenticated);
    assert!(config.client_keys.is_empty());
    assert_eq!(config.max_body_bytes, 64 * 1024 * 1024);
    assert_eq!(config.shutdown_grace, Duration::from_secs(30));
    assert_eq!(config.telemetry.service_name, "codex-convert-proxy");
    let b = &config.backends[0];
    assert_eq!(b.url, None);
    assert_eq!(b.chat_url(), None);
    assert!(b.api_key.is_none());
    assert_eq!(b.connect_timeout, Duration::from_secs(10));
    assert_eq!(b.first_byte_timeout, Duration::from_secs(300));
    assert_eq!(b.idle_timeout, Duration::from_secs(300));
    assert_eq!(b.total_timeout, Duration::from_secs(1800));
    assert_eq!(b.max_retries, 2);
    assert_eq!(b.keepalive_interval, Some(Duration::from_secs(10)));
    assert_eq!(b.pool_max_idle, 64);
    assert_eq!(b.pool_idle_timeout, Duration::from_secs(90));
    assert_eq!(b.context_window, None);
}

#[test]
fn optional_backend_fields_are_stored() {
    let config = parse_str(
        &with_backend(
            r#""name": "d", "url": "https://api.deepseek.com/v1", "model": "deepseek-chat",
               "models": ["deepseek-reasoner"], "provider": "deepseek",
               "quirks": {"strip_reasoning": true}, "keepalive_interval_secs": 0,
               "context_window": 128000, "max_output_tokens": 8192, "max_retries": 0,
               "pool_max_idle": 0, "pool_idle_timeout_secs": 5"#,
        ),
        &no_env,
    )
    .unwrap();
    let b = &config.backends[0];
    assert_eq!(b.provider.as_deref(), Some("deepseek"));
    assert_eq!(b.quirks.get("strip_reasoning"), Some(&Value::Bool(true)));
    assert_eq!(b.keepalive_interval, None);
    assert_eq!(b.pool_max_idle, 0);
    assert_eq!(b.pool_idle_timeout, Duration::from_secs(5));
    assert_eq!(b.context_window, Some(128_000));
    assert_eq!(b.max_output_tokens, Some(8192));
    assert_eq!(b.max_retries, 0);
    assert!(b.serves_model("deepseek-reasoner"));
    assert!(!b.serves_model("gpt-5"));
    // openai without api_key (a local server) is allowed and sends no Authorization.
    assert!(b.api_key.is_none());
    assert!(!b.key_missing);
}

#[test]
fn env_references_resolve() {
    let env = env_of(&[("DEEPSEEK_API_KEY", "sk-from-env"), ("TOKEN", "t0k")]);
    let config = parse_str(
        &with_backend(
            r#""name": "d", "url": "https://api.deepseek.com/v1", "model": "m",
               "api_key": "${DEEPSEEK_API_KEY}""#,
        ),
        &env,
    )
    .unwrap();
    let b = &config.backends[0];
    assert_eq!(b.api_key.as_ref().map(Secret::expose), Some("sk-from-env"));
    assert_eq!(b.api_key_env, vec!["DEEPSEEK_API_KEY".to_owned()]);

    let config = parse_str(
        &with_backend(
            r#""name": "d", "url": "https://x.example/v1", "model": "m",
               "api_key": "Bearer ${TOKEN}""#,
        ),
        &env,
    )
    .unwrap();
    assert_eq!(
        config.backends[0].api_key.as_ref().map(Secret::expose),
        Some("Bearer t0k")
    );
}

#[test]
fn unset_variable_names_the_variable_and_the_backend() {
    let text = USER_CONFIG.replace("sk-abc123deepseekSECRET", "${DEEPSEEK_API_KEY}");
    let err = parse_str(&text, &no_env).unwrap_err();
    assert_eq!(
        err.to_string(),
        "backends[2].api_key: environment variable DEEPSEEK_API_KEY is not set \
         (backend \"deepseek\") — export it or put the key in the config"
    );
}

#[test]
fn default_syntax_marks_the_key_missing_instead_of_failing() {
    let text = USER_CONFIG.replace("sk-abc123kimiSECRET", "${KIMI_API_KEY:-}");
    let config = parse_str(&text, &no_env).unwrap();
    let kimi = config.backend("kimi").unwrap();
    assert!(kimi.api_key.is_none());
    assert!(kimi.key_missing);
    assert_eq!(kimi.api_key_env, vec!["KIMI_API_KEY".to_owned()]);
    // With the variable set, the same config gets the key.
    let config = parse_str(&text, &env_of(&[("KIMI_API_KEY", "sk-k")])).unwrap();
    let kimi = config.backend("kimi").unwrap();
    assert_eq!(kimi.api_key.as_ref().map(Secret::expose), Some("sk-k"));
    assert!(!kimi.key_missing);
    // A literally empty key is "no key", not "missing".
    let text = USER_CONFIG.replace("sk-abc123kimiSECRET", "");
    let config = parse_str(&text, &no_env).unwrap();
    let kimi = config.backend("kimi").unwrap();
    assert!(kimi.api_key.is_none());
    assert!(!kimi.key_missing);
}

#[test]
fn client_keys_resolve_and_unset_ones_fail() {
    let base = with_backend(r#""name": "m", "protocol": "mock", "model": "mm""#);
    let text = base.replacen(
        '{',
        r#"{"client_keys": ["ck-literal", "${CLIENT_KEY}", "${OPTIONAL_KEY:-}"], "#,
        1,
    );
    let config = parse_str(&text, &env_of(&[("CLIENT_KEY", "ck-env")])).unwrap();
    let keys: Vec<&str> = config.client_keys.iter().map(Secret::expose).collect();
    assert_eq!(keys, vec!["ck-literal", "ck-env"]);
    let err = parse_str(&text, &no_env).unwrap_err();
    assert_eq!(err.0.len(), 1);
    assert_eq!(err.0[0].path, "client_keys[1]");
    assert!(err.0[0].message.contains("CLIENT_KEY is not set"));
}

#[test]
fn example_config_loads_with_an_empty_environment() {
    let config = load_with_env(&repo_root().join("config.example.json"), &no_env).unwrap();
    assert_eq!(config.listen.to_string(), "127.0.0.1:8280");
    let default = &config.backends[config.default_backend_index()];
    assert_eq!(default.name, "mock");
    assert_eq!(default.protocol, Protocol::Mock);
    for name in ["glm", "kimi", "deepseek"] {
        let b = config.backend(name).unwrap();
        assert!(b.key_missing, "{name} should be marked key_missing");
        assert!(b.api_key.is_none());
    }
    assert_eq!(
        config
            .backend("kimi")
            .unwrap()
            .match_rules
            .path_prefix
            .as_deref(),
        Some("/kimi")
    );
}

#[test]
fn load_reports_an_unreadable_file_by_name() {
    let err = load(Path::new("/nonexistent/ccp-config.json")).unwrap_err();
    assert_eq!(err.0.len(), 1);
    assert_eq!(err.0[0].path, "");
    assert!(err.0[0].message.contains("/nonexistent/ccp-config.json"));
    assert!(err.0[0].message.contains("check the path"));
}

#[test]
fn chat_and_models_urls_are_composed_without_doubling() {
    fn backend_at(url: &str) -> Backend {
        let text = with_backend(&format!(r#""name": "b", "url": "{url}", "model": "m""#));
        parse_str(&text, &no_env).unwrap().backends.remove(0)
    }
    for (url, chat, models) in [
        (
            "https://open.bigmodel.cn/api/coding/paas/v4",
            "https://open.bigmodel.cn/api/coding/paas/v4/chat/completions",
            "https://open.bigmodel.cn/api/coding/paas/v4/models",
        ),
        (
            "https://api.lkeap.cloud.tencent.com/plan/v3",
            "https://api.lkeap.cloud.tencent.com/plan/v3/chat/completions",
            "https://api.lkeap.cloud.tencent.com/plan/v3/models",
        ),
        (
            "https://api.moonshot.cn/v1",
            "https://api.moonshot.cn/v1/chat/completions",
            "https://api.moonshot.cn/v1/models",
        ),
        (
            "https://api.moonshot.cn/v1/",
            "https://api.moonshot.cn/v1/chat/completions",
            "https://api.moonshot.cn/v1/models",
        ),
        (
            "https://x/v1/chat/completions",
            "https://x/v1/chat/completions",
            "https://x/v1/models",
        ),
        (
            "https://x/v1/chat/completions/",
            "https://x/v1/chat/completions",
            "https://x/v1/models",
        ),
    ] {
        let b = backend_at(url);
        assert_eq!(b.chat_url().as_deref(), Some(chat), "{url}");
        assert_eq!(b.models_url().as_deref(), Some(models), "{url}");
    }
}

#[test]
fn debug_and_summary_never_show_keys() {
    let text = USER_CONFIG.replacen('{', r#"{"client_keys": ["ck-CLIENTSECRET"], "#, 1);
    let config = parse_str(&text, &no_env).unwrap();
    let debug = format!("{config:?}");
    let pretty = format!("{config:#?}");
    let summary = config.summary_json().to_string();
    for shown in [&debug, &pretty, &summary] {
        assert!(!shown.contains("SECRET"), "key material leaked: {shown}");
    }
    assert!(debug.contains("[redacted]"));
    assert!(
        debug.contains("glm-5"),
        "Debug should still show non-secret fields"
    );
}

#[test]
fn summary_lists_backends_and_routes() {
    let config = parse_str(USER_CONFIG, &no_env).unwrap();
    let summary = config.summary_json();
    let backends = summary["backends"].as_array().unwrap();
    assert_eq!(backends.len(), 3);
    let kimi = &backends[1];
    assert_eq!(kimi["name"], "kimi");
    assert_eq!(kimi["protocol"], "chat");
    assert_eq!(kimi["model"], "moonshot-v1-8k");
    assert_eq!(
        kimi["endpoint_url"],
        "https://api.moonshot.cn/v1/chat/completions"
    );
    assert_eq!(kimi["match_rules"]["path_prefix"], "/kimi");
    assert_eq!(kimi["has_api_key"], true);
    assert_eq!(backends[0]["match_rules"]["default"], true);
    assert_eq!(summary["listen"], "0.0.0.0:8280");
}

/// Every `fixtures/configs/bad-*.json`: the JSON path of the first problem and words its
/// message must contain (the fix). The test also fails if a fixture is missing from this table.
const BAD_FIXTURES: &[(&str, &str, &[&str])] = &[
    (
        "bad-unknown-top-level-field.json",
        "lisen",
        &["unknown field `lisen`", "`listen`", "remove it or correct"],
    ),
    (
        "bad-unknown-backend-field.json",
        "backends[1].protcol",
        &["unknown field `protcol`", "`protocol`"],
    ),
    (
        "bad-unknown-match-rule-field.json",
        "backends[1].match_rules.prefix",
        &["unknown field `prefix`", "`path_prefix`"],
    ),
    (
        "bad-wrong-type.json",
        "log_body",
        &["invalid type", "expected a boolean", "change the value"],
    ),
    (
        "bad-wrong-type-nested.json",
        "backends[1].connect_timeout_secs",
        &["invalid type", "change the value"],
    ),
    (
        "bad-unknown-protocol.json",
        "backends[0].protocol",
        &[
            "\"gemini\"",
            "\"anthropic\"",
            "\"openai\"",
            "\"chat\"",
            "\"responses\"",
            "\"codex\"",
            "\"mock\"",
        ],
    ),
    (
        "bad-prefix-no-slash.json",
        "backends[1].match_rules.path_prefix",
        &["must start with '/'", "write \"/kimi\""],
    ),
    (
        "bad-prefix-trailing-slash.json",
        "backends[1].match_rules.path_prefix",
        &["must not end with '/'", "write \"/kimi\""],
    ),
    (
        "bad-prefix-reserved.json",
        "backends[1].match_rules.path_prefix",
        &["reserved segment \"v1\"", "pick another prefix"],
    ),
    (
        "bad-duplicate-prefixes.json",
        "backends[2].match_rules.path_prefix",
        &[
            "already the path_prefix of backend \"kimi\" at backends[1]",
            "distinct prefix",
        ],
    ),
    (
        "bad-zero-defaults.json",
        "backends",
        &[
            "no backend is the default",
            r#"add "match_rules": {"default": true}"#,
        ],
    ),
    (
        "bad-two-defaults.json",
        "backends",
        &[
            "2 backends",
            "(backend \"glm\" at backends[0], backend \"kimi\" at backends[1])",
            "exactly one",
        ],
    ),
    (
        "bad-duplicate-names.json",
        "backends[1].name",
        &["\"glm\" is already the name of backends[0]", "unique name"],
    ),
    (
        "bad-name-characters.json",
        "backends[0].name",
        &["\"my backend\"", "rename it", "\"my_backend\""],
    ),
    (
        "bad-url-scheme.json",
        "backends[0].url",
        &["must start with http:// or https://", "base URL"],
    ),
    (
        "bad-url-query.json",
        "backends[0].url",
        &["query string", "remove the '?…'"],
    ),
    (
        "bad-openai-missing-url.json",
        "backends[0].url",
        &["missing", "add the provider's base URL"],
    ),
    (
        "bad-missing-model.json",
        "backends[0].model",
        &["missing", "add the upstream model name"],
    ),
    (
        "bad-listen.json",
        "listen",
        &["\"localhost:8280\"", "\"127.0.0.1:8280\""],
    ),
    (
        "bad-empty-backends.json",
        "backends",
        &["is empty", "add at least one backend"],
    ),
    (
        "bad-missing-backends.json",
        "backends",
        &["missing", "add a \"backends\" list"],
    ),
    (
        "bad-telemetry-endpoint.json",
        "telemetry.otlp_endpoint",
        &["must start with http:// or https://", "collector"],
    ),
    (
        "bad-header-rule-missing-value.json",
        "backends[1].match_rules.header.value",
        &["missing", "exact header value"],
    ),
    (
        "bad-zero-timeout.json",
        "backends[1].idle_timeout_secs",
        &["at least 1 second", "default (300)"],
    ),
    (
        "bad-json-syntax.json",
        "",
        &["trailing comma", "fix the JSON syntax"],
    ),
    (
        "bad-three-problems.json",
        "listen",
        &["\"127.0.0.1\"", "\"127.0.0.1:8280\""],
    ),
];

#[test]
fn every_bad_fixture_fails_with_its_path_and_a_fix() {
    let dir = repo_root().join("fixtures/configs");
    let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("bad-") && n.ends_with(".json"))
        .collect();
    on_disk.sort();
    let mut in_table: Vec<String> = BAD_FIXTURES
        .iter()
        .map(|(f, _, _)| (*f).to_owned())
        .collect();
    in_table.sort();
    assert_eq!(on_disk, in_table, "fixtures and BAD_FIXTURES disagree");
    assert!(in_table.len() >= 10);

    for (file, path, fragments) in BAD_FIXTURES {
        let err = match load_with_env(&dir.join(file), &no_env) {
            Ok(_) => panic!("{file}: loaded, but should have failed"),
            Err(err) => err,
        };
        let first = &err.0[0];
        assert_eq!(first.path, *path, "{file}: {err}");
        for fragment in *fragments {
            assert!(
                first.message.contains(fragment),
                "{file}: {first} lacks {fragment:?}"
            );
        }
        for problem in &err.0 {
            assert!(
                problem.message.contains(" — "),
                "{file}: no fix given in {problem}"
            );
        }
    }
}

#[test]
fn all_problems_are_reported_at_once() {
    let err = load_with_env(
        &repo_root().join("fixtures/configs/bad-three-problems.json"),
        &no_env,
    )
    .unwrap_err();
    let paths: Vec<&str> = err.0.iter().map(|p| p.path.as_str()).collect();
    assert_eq!(
        paths,
        vec![
            "listen",
            "backends[0].protocol",
            "backends[1].match_rules.path_prefix"
        ],
        "{err}"
    );
    // Display prints one problem per line.
    let shown = err.to_string();
    assert_eq!(shown.lines().count(), 3);
    assert!(shown
        .lines()
        .nth(1)
        .unwrap()
        .starts_with("backends[0].protocol: "));
}

#[test]
fn cross_backend_rules_still_see_backends_with_their_own_problems() {
    // backends[1] has a bad url AND duplicates backends[0]'s name: both are reported.
    let text = r#"{"backends": [
        {"name": "a", "protocol": "mock", "model": "m", "match_rules": {"default": true}},
        {"name": "a", "url": "ftp://x", "model": "m", "match_rules": {"path_prefix": "/a"}}]}"#;
    let err = parse_str(text, &no_env).unwrap_err();
    let paths: Vec<&str> = err.0.iter().map(|p| p.path.as_str()).collect();
    assert_eq!(paths, vec!["backends[1].url", "backends[1].name"], "{err}");
}

#[test]
fn pool_limits_are_checked_with_their_paths() {
    let text = r#"{"backends": [
        {"name": "a", "url": "http://127.0.0.1:9/v1", "model": "m", "match_rules": {"default": true},
         "pool_max_idle": 100000, "pool_idle_timeout_secs": 0}]}"#;
    let err = parse_str(text, &no_env).unwrap_err();
    let paths: Vec<&str> = err.0.iter().map(|p| p.path.as_str()).collect();
    assert_eq!(
        paths,
        vec![
            "backends[0].pool_max_idle",
            "backends[0].pool_idle_timeout_secs"
        ],
        "{err}"
    );
    assert!(err.to_string().contains("use at most 10000"), "{err}");
}

#[test]
fn every_unknown_field_and_type_error_is_reported_at_once_in_file_order() {
    let text = r#"{"lisen": "127.0.0.1:8280", "log_body": "yes",
        "backends": [
          {"name": "m", "protocol": "mock", "model": "m", "match_rules": {"default": true}},
          {"name": "k", "protcol": "openai", "url": "https://api.moonshot.cn/v1", "model": "k",
           "connect_timeout_secs": "10", "match_rules": {"prefix": "/k"}}],
        "telemetry": {"enabeld": true}}"#;
    let err = parse_str(text, &no_env).unwrap_err();
    let paths: Vec<&str> = err.0.iter().map(|p| p.path.as_str()).collect();
    assert_eq!(
        paths,
        vec![
            "lisen",
            "log_body",
            "backends[1].protcol",
            "backends[1].connect_timeout_secs",
            "backends[1].match_rules.prefix",
            "telemetry.enabeld",
        ],
        "{err}"
    );
    assert!(err.0[0].message.contains("`listen`"), "{err}");
    assert!(err.0[1].message.contains("expected a boolean"), "{err}");
    assert!(err.0.iter().all(|p| p.message.contains(" — ")), "{err}");
}

#[test]
fn two_typos_give_two_problems_with_their_paths() {
    let text = with_backend(r#""name": "m", "protocol": "mock", "model": "m", "modle": "x""#)
        .replacen('{', r#"{"log_dri": "./logs", "#, 1);
    let err = parse_str(&text, &no_env).unwrap_err();
    let paths: Vec<&str> = err.0.iter().map(|p| p.path.as_str()).collect();
    assert_eq!(paths, vec!["log_dri", "backends[0].modle"], "{err}");
}

#[test]
fn a_toml_or_yaml_file_is_told_the_config_is_json() {
    let toml = "# proxy\nlisten = \"127.0.0.1:8280\"\n\n[[backends]]\nname = \"mock\"\n";
    let yaml = "---\nlisten: 127.0.0.1:8280\nbackends:\n  - name: mock\n";
    let table = "[telemetry]\nenabled = false\n";
    for (text, format) in [(toml, "TOML"), (yaml, "YAML"), (table, "TOML")] {
        let err = parse_str(text, &no_env).unwrap_err();
        assert_eq!(err.0.len(), 1, "{err}");
        let problem = &err.0[0];
        assert_eq!(problem.path, "", "{err}");
        for needle in [
            "this is not JSON",
            &format!("looks like {format}"),
            "config.example.json",
        ] {
            assert!(
                problem.message.contains(needle),
                "{needle:?} missing: {err}"
            );
        }
    }
    // A JSON file with a syntax error is still a syntax error, not "not JSON".
    let err = parse_str(r#"{"backends": [],}"#, &no_env).unwrap_err();
    assert!(!err.to_string().contains("not JSON"), "{err}");
    assert!(err.to_string().contains("fix the JSON syntax"), "{err}");
}

#[test]
fn anthropic_kind_defaults_and_refusals() {
    let text = r#"{"backends": [
        {"name": "claude", "protocol": "anthropic", "api_key": "k", "model": "claude-sonnet-4-5",
         "match_rules": {"default": true}}]}"#;
    let config = parse_str(text, &no_env).unwrap();
    let b = &config.backends[0];
    assert_eq!(b.protocol, Protocol::Anthropic);
    assert_eq!(
        b.kind,
        BackendKind::Anthropic {
            anthropic_version: "2023-06-01".into(),
            prompt_cache: true,
            max_tokens: None
        }
    );
    assert_eq!(
        b.endpoint_url().as_deref(),
        Some("https://api.anthropic.com/v1/messages")
    );

    let text = r#"{"backends": [
        {"name": "kimi", "protocol": "anthropic", "url": "https://api.moonshot.cn/anthropic/v1",
         "anthropic_version": "2023-06-01", "prompt_cache": false, "max_tokens": 4096,
         "model": "kimi-k2", "match_rules": {"default": true}}]}"#;
    let b = parse_str(text, &no_env).unwrap().backends.remove(0);
    assert_eq!(
        b.endpoint_url().as_deref(),
        Some("https://api.moonshot.cn/anthropic/v1/messages")
    );
    assert!(matches!(
        b.kind,
        BackendKind::Anthropic {
            prompt_cache: false,
            max_tokens: Some(4096),
            ..
        }
    ));

    let text = r#"{"backends": [
        {"name": "a", "protocol": "anthropic", "url": "https://x/v1/chat/completions",
         "max_tokens": 0, "anthropic_version": "bad version", "model": "m",
         "match_rules": {"default": true}},
        {"name": "b", "protocol": "chat", "url": "https://x/v1", "prompt_cache": true,
         "model": "m", "match_rules": {"path_prefix": "/b"}}]}"#;
    let err = parse_str(text, &no_env).unwrap_err();
    let paths: Vec<&str> = err.0.iter().map(|p| p.path.as_str()).collect();
    assert_eq!(
        paths,
        vec![
            "backends[0].url",
            "backends[0].anthropic_version",
            "backends[0].max_tokens",
            "backends[1].prompt_cache"
        ],
        "{err}"
    );
    assert!(
        err.to_string()
            .contains("only applies to protocol \"anthropic\""),
        "{err}"
    );
}

#[test]
fn the_admin_api_path_is_reserved() {
    let err = parse_str(
        r#"{"backends": [{"name": "a", "url": "https://x.example/v1", "model": "m",
            "match_rules": {"default": true, "path_prefix": "/admin"}}]}"#,
        &no_env,
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("path_prefix") && err.contains("reserved segment \"admin\""),
        "{err}"
    );
}
