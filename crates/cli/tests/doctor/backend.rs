//! Backend probes: one test per classification.

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backend_ok_exits_zero() {
    let port = fake(Fake::ChatOk).await;
    let (code, report) = probe_backend(&format!("http://127.0.0.1:{port}/v1")).await;
    assert_check(&report, "backend.up", "ok", "OK");
    assert_check(&report, "codex.config", "warn", "no Codex config");
    assert_eq!(report["ok"], true, "warnings do not make the report fail");
    assert_eq!(code, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backend_unreachable_port() {
    let port = closed_port();
    let (code, report) = probe_backend(&format!("http://127.0.0.1:{port}/v1")).await;
    assert_check(&report, "backend.up", "fail", "unreachable");
    assert_check(&report, "backend.up", "fail", "TCP connect");
    assert_eq!(report["ok"], false);
    assert_eq!(code, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backend_unresolvable_host() {
    let (code, report) = probe_backend("http://doctor-test-host.invalid/v1").await;
    assert_check(&report, "backend.up", "fail", "DNS");
    assert_eq!(code, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backend_tls_failure() {
    let port = fake(Fake::ChatOk).await;
    let (code, report) = probe_backend(&format!("https://127.0.0.1:{port}/v1")).await;
    assert_check(&report, "backend.up", "fail", "TLS failure");
    assert_eq!(code, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backend_wrong_path() {
    let port = fake(Fake::NotFound).await;
    let (code, report) = probe_backend(&format!("http://127.0.0.1:{port}/v1")).await;
    assert_check(&report, "backend.up", "fail", "wrong path");
    assert_check(&report, "backend.up", "fail", "404");
    assert_eq!(code, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backend_wrong_path_suggests_adding_v1() {
    let port = fake(Fake::ChatUnderV1).await;
    let (_, report) = probe_backend(&format!("http://127.0.0.1:{port}")).await;
    assert_check(&report, "backend.up", "fail", "wrong path");
    let fix = check(&report, "backend.up")["fix"].as_str().unwrap();
    assert!(
        fix.contains(&format!("http://127.0.0.1:{port}/v1")),
        "{fix}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backend_wrong_key_and_key_is_never_printed() {
    let port = fake(Fake::Unauthorized).await;
    let url = format!("http://127.0.0.1:{port}/v1");
    let (code, report) = probe_backend(&url).await;
    assert_check(&report, "backend.up", "fail", "wrong API key");
    assert_check(&report, "backend.up", "fail", "401");
    assert_eq!(code, 1);

    // Human output too: the upstream echoes the key, doctor must not.
    let dir = TempDir::new("human401");
    let config = backend_config(&dir, &url, SECRET);
    let out = doctor(&config, &dir.path().join("codex"), &[], &[]).await;
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(all.contains("✗ backend.up"), "{all}");
    assert!(!all.contains(SECRET), "{all}");
    assert!(
        !all.contains("0123456789"),
        "no part of the key either: {all}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backend_model_not_found() {
    let port = fake(Fake::ModelNotFound).await;
    let (code, report) = probe_backend(&format!("http://127.0.0.1:{port}/v1")).await;
    assert_check(&report, "backend.up", "fail", "model not found");
    assert_eq!(code, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backend_responses_only_is_a_protocol_mismatch() {
    let port = fake(Fake::ResponsesOnly).await;
    let (code, report) = probe_backend(&format!("http://127.0.0.1:{port}/v1")).await;
    assert_check(&report, "backend.up", "fail", "protocol mismatch");
    assert_eq!(code, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backend_missing_key_variable() {
    let port = fake(Fake::ChatOk).await;
    let dir = TempDir::new("nokey");
    let config = backend_config(
        &dir,
        &format!("http://127.0.0.1:{port}/v1"),
        "${DOCTOR_TEST_UNSET:-}",
    );
    let (code, report) = doctor_json(&config, &dir.path().join("codex"), &[], &[]).await;
    // The key is optional (`${VAR:-}`): unset, it is a note naming the variable, not a failure.
    assert_check(&report, "backend.up", "warn", "DOCTOR_TEST_UNSET");
    assert_check(&report, "backend.up", "warn", "not probed");
    assert_eq!(report["ok"], true, "{report:#}");
    assert_eq!(code, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_probe_contacts_nothing() {
    let dir = TempDir::new("noprobe");
    let config = backend_config(
        &dir,
        &format!("http://127.0.0.1:{}/v1", closed_port()),
        SECRET,
    );
    let (code, report) =
        doctor_json(&config, &dir.path().join("codex"), &["--no-probe"], &[]).await;
    assert!(report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["id"] != "backend.up"));
    assert_check(&report, "probe", "warn", "skipped");
    assert_eq!(code, 0);
}
