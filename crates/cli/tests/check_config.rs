//! `--check-config` on the real binary: the users' existing config passes, every broken fixture
//! fails with its JSON path, and no key is ever printed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/configs");

fn check(path: &std::path::Path, envs: &[(&str, &str)]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_codex-convert-proxy"))
        .arg("--config")
        .arg(path)
        .arg("--check-config")
        .env_clear()
        .envs(envs.iter().copied())
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn users_existing_config_with_real_looking_keys_passes() {
    let dir = ccp_testkit::locate::TempDir::new("ccp-check");
    let key = "sk-live-abcdef0123456789abcdef0123456789";
    let config = serde_json::json!({
      "listen": "0.0.0.0:8280", "log_dir": "./logs", "log_body": false,
      "client_keys": ["${PROXY_CLIENT_KEY}"],
      "backends": [
        {"name": "glm", "url": "https://open.bigmodel.cn/api/coding/paas/v4", "api_key": key,
         "model": "glm-5", "protocol": "openai", "match_rules": {"default": true}},
        {"name": "kimi", "url": "https://api.moonshot.cn/v1", "api_key": "${KIMI_API_KEY}",
         "model": "moonshot-v1-8k", "protocol": "openai", "match_rules": {"path_prefix": "/kimi"}},
        {"name": "deepseek", "url": "https://api.deepseek.com/v1", "api_key": key,
         "model": "deepseek-chat", "protocol": "openai", "match_rules": {"path_prefix": "/deepseek"}}
      ],
      "telemetry": {"enabled": false, "service_name": "codex-convert-proxy", "otlp_endpoint": "http://localhost:4317"}
    });
    let path = dir.join("config.json");
    std::fs::write(&path, config.to_string()).unwrap();
    let envs = [
        ("KIMI_API_KEY", "sk-kimi-fromenv-999999"),
        ("PROXY_CLIENT_KEY", "sk-client-fromenv-888888"),
    ];
    let (code, text) = check(&path, &envs);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("OK"), "{text}");
    assert!(
        text.contains("https://open.bigmodel.cn/api/coding/paas/v4/chat/completions"),
        "{text}"
    );
    for secret in [key, "sk-kimi-fromenv-999999", "sk-client-fromenv-888888"] {
        assert!(
            !text.contains(secret),
            "--check-config printed a key: {text}"
        );
    }
    // The same config with the variable unset names the variable and the backend.
    let (code, text) = check(&path, &envs[1..]);
    assert_ne!(code, 0);
    assert!(
        text.contains("KIMI_API_KEY") && text.contains("kimi"),
        "{text}"
    );
}

#[test]
fn the_bundled_example_config_passes_without_any_key() {
    let (code, text) = check(
        std::path::Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../config.example.json"
        )),
        &[],
    );
    assert_eq!(code, 0, "{text}");
}

#[test]
fn every_broken_fixture_fails_naming_its_json_path() {
    let mut seen = 0;
    for entry in std::fs::read_dir(FIXTURES).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !name.starts_with("bad-") {
            continue;
        }
        seen += 1;
        let (code, text) = check(&path, &[]);
        assert_eq!(code, 2, "{name}: {text}");
        assert!(text.contains("invalid config"), "{name}: {text}");
        // Every problem line is `path: message` (a JSON path, or the file for syntax errors).
        let problems: Vec<&str> = text
            .lines()
            .skip(1)
            .filter(|l| !l.trim().is_empty())
            .collect();
        assert!(!problems.is_empty(), "{name}: {text}");
    }
    assert!(seen >= 10, "at least ten broken configs, found {seen}");
    let (_, text) = check(
        &std::path::Path::new(FIXTURES).join("bad-prefix-no-slash.json"),
        &[],
    );
    assert!(
        text.contains("match_rules.path_prefix") && text.contains("must start with '/'"),
        "{text}"
    );
    let (_, text) = check(
        &std::path::Path::new(FIXTURES).join("bad-three-problems.json"),
        &[],
    );
    for path in [
        "listen:",
        "backends[0].protocol:",
        "backends[1].match_rules.path_prefix:",
    ] {
        assert!(
            text.lines().any(|l| l.starts_with(path)),
            "all problems at once, missing {path}: {text}"
        );
    }
}

#[test]
fn providers_subcommand_lists_every_profile() {
    let out = Command::new(env!("CARGO_BIN_EXE_codex-convert-proxy"))
        .arg("providers")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for id in [
        "openai",
        "glm",
        "kimi",
        "deepseek",
        "minimax",
        "qwen",
        "lkeap",
        "openrouter",
        "vllm",
        "llamacpp",
        "ollama",
        "generic",
    ] {
        assert!(text.contains(id), "{id} missing from:\n{text}");
    }
    assert!(
        text.contains("reasoning_content"),
        "says what it changes:\n{text}"
    );
}
