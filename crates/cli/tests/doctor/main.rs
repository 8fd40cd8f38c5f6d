//! `codex-convert-proxy doctor`: one test per detection, against tiny local servers (and the
//! proxy binary itself where "is this our proxy?" matters).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod backend;
mod codex_file;
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
