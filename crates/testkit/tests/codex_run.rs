//! `CodexRun` drives the real Codex CLI. Without a proxy in front, Codex's Responses request
//! lands on the mock's unexpected-path handler, which proves the generated config, the client
//! key plumbing and the offline flags work. Requires the Codex CLI (`.ci/install-test-tools.sh`).

use std::time::Duration;

use ccp_testkit::{CodexRun, MockUpstream, Rule, DEFAULT_CLIENT_KEY};

#[test]
fn config_toml_has_the_provider_and_options() {
    let run = CodexRun::new("http://127.0.0.1:9/v1")
        .model("glm-4.6")
        .request_max_retries(2)
        .stream_idle_timeout_ms(1500)
        .supports_websockets(true)
        .model_catalog_json(serde_json::json!({"models": []}))
        .extra_toml("model_context_window = 1000");
    let toml = run.config_toml();
    for line in [
        "model = \"glm-4.6\"",
        "model_provider = \"proxy\"",
        "web_search = \"disabled\"",
        "[analytics]\nenabled = false",
        "[features]\nplugins = false",
        "[model_providers.proxy]",
        "base_url = \"http://127.0.0.1:9/v1\"",
        "env_key = \"CODEX_PROXY_KEY\"",
        "wire_api = \"responses\"",
        "request_max_retries = 2",
        "stream_max_retries = 0",
        "stream_idle_timeout_ms = 1500",
        "supports_websockets = true",
        "model_context_window = 1000",
    ] {
        assert!(toml.contains(line), "missing {line:?} in:\n{toml}");
    }
    // Top-level keys must precede the first table.
    let first_table = toml.find("\n[").expect("a table");
    assert!(toml.find("model_context_window").expect("extra") < first_table);
    assert!(toml.find("model_catalog_json").expect("catalog") < first_table);
    run.write_config();
    let catalog = std::fs::read_to_string(run.codex_home().join("model-catalog.json"))
        .expect("catalog written");
    assert_eq!(catalog, r#"{"models":[]}"#);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codex_reaches_the_base_url_with_the_client_key() {
    let mock = MockUpstream::strict().await;
    let run = CodexRun::new(mock.url()).timeout(Duration::from_secs(60));
    let out = run.exec("say hi").await;
    assert!(!out.timed_out, "codex hung:\n{}", out.dump());
    assert!(!out.success(), "a 404 must fail the turn:\n{}", out.dump());
    assert_eq!(out.status.code(), Some(1), "{}", out.dump());
    let requests = mock.requests();
    let responses: Vec<_> = requests
        .iter()
        .filter(|r| r.method == "POST" && r.path == "/v1/responses")
        .collect();
    assert_eq!(responses.len(), 1, "no retries configured: {requests:?}");
    let request = responses[0];
    assert_eq!(
        request.authorization(),
        Some(format!("Bearer {DEFAULT_CLIENT_KEY}").as_str())
    );
    assert_eq!(request.body["model"], "mock-model");
    assert_eq!(request.body["stream"], true);
    assert!(request.body["input"].is_array());
    assert!(mock.violation_rules().contains(&Rule::UnexpectedRequest));
    // The turn error surfaces in the JSONL stream.
    let events = out.events();
    assert!(
        events.iter().any(|e| e["type"] == "thread.started"),
        "{}",
        out.dump()
    );
    assert!(
        events
            .iter()
            .any(|e| e["type"] == "turn.failed" || e["type"] == "error"),
        "{}",
        out.dump()
    );
}
