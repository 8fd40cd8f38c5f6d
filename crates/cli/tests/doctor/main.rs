//! `codex-convert-proxy doctor`: one test per detection, against tiny local servers (and the
//! proxy binary itself where "is this our proxy?" matters).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod anthropic;
mod backend;
mod codex_file;
mod kinds;
mod running_proxy;
mod support;

use support::*;

// Report shape and exit codes
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_shape_and_invalid_proxy_config() {
    let dir = TempDir::new("shape");
    let config = dir.write("proxy.json", r#"{"backends": [], "nonsense": 1}"#);
    let (code, report) =
        doctor_json(&config, &dir.path().join("codex"), &["--no-probe"], &[]).await;
    assert_eq!(code, 1);
    assert_eq!(report["ok"], false);
    let obj = report.as_object().unwrap();
    assert_eq!(obj.len(), 2, "{report:#}");
    for c in report["checks"].as_array().unwrap() {
        let c = c.as_object().unwrap();
        let mut keys: Vec<&String> = c.keys().collect();
        keys.sort();
        assert_eq!(keys, ["fix", "id", "message", "status"]);
        assert!(["ok", "warn", "fail"].contains(&c["status"].as_str().unwrap()));
        assert!(c["fix"].is_null() || c["fix"].is_string());
    }
    assert_check(&report, "config", "fail", "invalid config");
    assert_check(&report, "config", "fail", "nonsense");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn human_output_marks_failures() {
    let dir = TempDir::new("human");
    let config = dir.write("proxy.json", r#"{"backends": []}"#);
    let out = doctor(&config, &dir.path().join("codex"), &["--no-probe"], &[]).await;
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.lines().any(|l| l.starts_with("✗ config:")), "{text}");
    assert!(
        text.lines().any(|l| l.starts_with("! codex.config:")),
        "{text}"
    );
    assert!(
        text.lines().any(|l| l.trim_start().starts_with("fix: ")),
        "{text}"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid config"));
}

/// The README's `doctor` command on the shipped example, with none of its optional keys set:
/// the keys are notes, the mock needs nothing, and the exit code is 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_config_passes_with_its_optional_keys_unset() {
    let dir = TempDir::new("example");
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../../config.example.json");
    let out = tokio::process::Command::new(BIN)
        .args(["--config", example, "doctor", "--json"])
        .env("CODEX_HOME", dir.path().join("codex"))
        .env_remove("GLM_API_KEY")
        .env_remove("KIMI_API_KEY")
        .env_remove("DEEPSEEK_API_KEY")
        .output()
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let report: serde_json::Value = serde_json::from_str(&text).unwrap();
    for (id, var) in [
        ("backend.glm", "GLM_API_KEY"),
        ("backend.kimi", "KIMI_API_KEY"),
        ("backend.deepseek", "DEEPSEEK_API_KEY"),
    ] {
        assert_check(&report, id, "warn", var);
    }
    assert_check(&report, "config", "ok", "valid");
    assert_eq!(report["ok"], true, "{report:#}");
    assert_eq!(out.status.code(), Some(0), "{report:#}");
}
