//! Codex config.toml checks, without network probes.

use serde_json::Value;

use crate::support::*;

const GOOD_PROVIDER: &str = r#"
[model_providers.proxy]
name = "codex-convert-proxy"
base_url = "http://127.0.0.1:18999/v1"
wire_api = "responses"
env_key = "DOCTOR_TEST_KEY"
"#;

/// Doctor without probes on a Codex config.toml with `body`; the env has DOCTOR_TEST_KEY set.
async fn lint(body: &str) -> (i32, Value) {
    let dir = TempDir::new("lint");
    let config = backend_config(&dir, "http://127.0.0.1:1/v1", SECRET);
    let home = dir.path().join("codex");
    dir.write("codex/config.toml", body);
    doctor_json(
        &config,
        &home,
        &["--no-probe"],
        &[("DOCTOR_TEST_KEY", "client-key")],
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codex_minimal_good_config_passes() {
    let (code, report) = lint(&format!(
        "model = \"m1\"\nmodel_provider = \"proxy\"\n{GOOD_PROVIDER}"
    ))
    .await;
    assert_check(&report, "codex.model_provider", "ok", "proxy");
    assert_check(
        &report,
        "codex.provider.proxy.env_key",
        "ok",
        "DOCTOR_TEST_KEY",
    );
    assert_check(&report, "codex.catalog", "warn", "fallback metadata");
    assert_eq!(code, 0, "{report:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codex_wire_api_chat() {
    let body = GOOD_PROVIDER.replace("wire_api = \"responses\"", "wire_api = \"chat\"");
    let (code, report) = lint(&format!("model_provider = \"proxy\"\n{body}")).await;
    assert_check(
        &report,
        "codex.provider.proxy.wire_api",
        "fail",
        "wire_api = \"chat\"",
    );
    assert!(check(&report, "codex.provider.proxy.wire_api")["fix"]
        .as_str()
        .unwrap()
        .contains("responses"));
    assert_eq!(code, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codex_base_url_mistakes() {
    let body = r#"
model_provider = "a"
[model_providers.a]
base_url = "http://127.0.0.1:18999/v1/chat/completions"
[model_providers.b]
base_url = "http://127.0.0.1:18999/v1/responses"
[model_providers.c]
base_url = "http://127.0.0.1:18999/v1/v1"
"#;
    let (code, report) = lint(body).await;
    assert_check(
        &report,
        "codex.provider.a.base_url",
        "fail",
        "/chat/completions",
    );
    assert_check(&report, "codex.provider.b.base_url", "fail", "/responses");
    assert_check(&report, "codex.provider.c.base_url", "fail", "/v1/v1");
    for id in ["a", "b", "c"] {
        let fix = check(&report, &format!("codex.provider.{id}.base_url"))["fix"]
            .as_str()
            .unwrap();
        assert!(fix.contains("\"http://127.0.0.1:18999/v1\""), "{id}: {fix}");
    }
    assert_eq!(code, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codex_env_key_unset_or_empty() {
    let body = r#"
model_provider = "a"
[model_providers.a]
base_url = "http://127.0.0.1:18999/v1"
env_key = "DOCTOR_TEST_UNSET"
[model_providers.b]
base_url = "http://127.0.0.1:18999/v1"
env_key = "DOCTOR_TEST_EMPTY"
"#;
    let dir = TempDir::new("envkey");
    let config = backend_config(&dir, "http://127.0.0.1:1/v1", SECRET);
    dir.write("codex/config.toml", body);
    let (code, report) = doctor_json(
        &config,
        &dir.path().join("codex"),
        &["--no-probe"],
        &[("DOCTOR_TEST_EMPTY", "")],
    )
    .await;
    assert_check(
        &report,
        "codex.provider.a.env_key",
        "fail",
        "DOCTOR_TEST_UNSET",
    );
    assert_check(
        &report,
        "codex.provider.b.env_key",
        "fail",
        "DOCTOR_TEST_EMPTY",
    );
    assert!(check(&report, "codex.provider.a.env_key")["fix"]
        .as_str()
        .unwrap()
        .contains("export DOCTOR_TEST_UNSET"));
    assert_eq!(code, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codex_openai_table_is_ignored() {
    let body = r#"
model_provider = "openai"
[model_providers.openai]
base_url = "http://127.0.0.1:18999/v1"
"#;
    let (code, report) = lint(body).await;
    assert_check(&report, "codex.provider.openai", "fail", "ignored");
    assert!(check(&report, "codex.provider.openai")["fix"]
        .as_str()
        .unwrap()
        .contains("rename"));
    assert_check(&report, "codex.model_provider", "fail", "built-in");
    assert_eq!(code, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codex_model_provider_names_a_missing_table() {
    let (code, report) = lint(&format!("model_provider = \"prox\"\n{GOOD_PROVIDER}")).await;
    assert_check(
        &report,
        "codex.model_provider",
        "fail",
        "no [model_providers.prox]",
    );
    assert!(check(&report, "codex.model_provider")["fix"]
        .as_str()
        .unwrap()
        .contains("`proxy`"));
    assert_eq!(code, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codex_unset_model_provider_means_openai() {
    let (code, report) = lint(GOOD_PROVIDER).await;
    assert_check(&report, "codex.model_provider", "fail", "not set");
    assert_eq!(code, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codex_legacy_profiles_and_profile_files() {
    let dir = TempDir::new("profiles");
    let config = backend_config(&dir, "http://127.0.0.1:1/v1", SECRET);
    let body = format!("model_provider = \"proxy\"\n{GOOD_PROVIDER}\n[profiles.kimi]\nmodel = \"k\"\nmodel_provider = \"proxy\"\n");
    dir.write("codex/config.toml", &body);
    dir.write(
        "codex/glm.config.toml",
        "model = \"g\"\nmodel_provider = \"proxy-glm\"\n",
    );
    let (code, report) = doctor_json(
        &config,
        &dir.path().join("codex"),
        &["--no-probe"],
        &[("DOCTOR_TEST_KEY", "k")],
    )
    .await;
    assert_check(&report, "codex.legacy_profiles", "fail", "[profiles.*]");
    assert_check(&report, "codex.profile.kimi", "ok", "proxy");
    assert_check(
        &report,
        "codex.profile.glm",
        "fail",
        "no [model_providers.proxy-glm]",
    );
    assert_eq!(code, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codex_catalog_missing_file() {
    let body = format!("model_provider = \"proxy\"\nmodel_catalog_json = \"/nonexistent/ccp-doctor-models.json\"\n{GOOD_PROVIDER}");
    let (code, report) = lint(&body).await;
    assert_check(&report, "codex.catalog", "fail", "cannot be read");
    assert_eq!(code, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codex_invalid_toml() {
    let (code, report) = lint("model_provider = \n[[[").await;
    assert_check(&report, "codex.config", "fail", "not valid TOML");
    assert_eq!(code, 1);
}
