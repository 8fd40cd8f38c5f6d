//! The startup summary of the real binary: every backend with its kind, route, upstream origin
//! and key state, the Codex `base_url` of each route, the same facts in the log file, and never
//! a key or a URL path.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use common::{Proxy, UPSTREAM_KEY};
use serde_json::{json, Value};

/// A path segment that must never be printed (paths can carry tokens).
const PATH_SECRET: &str = "tenant-PATHSECRET-77";

fn config() -> Value {
    json!({
        "backends": [
            {"name": "mock", "protocol": "mock", "model": "mock-model",
             "match_rules": {"default": true}},
            {"name": "kimi", "protocol": "openai", "url": format!("https://api.moonshot.cn/{PATH_SECRET}/v1"),
             "api_key": UPSTREAM_KEY, "model": "kimi-k2", "match_rules": {"path_prefix": "/kimi"}},
            {"name": "glm", "protocol": "openai", "url": "http://127.0.0.1:9/v4",
             "api_key": "${CCP_STARTUP_TEST_UNSET_KEY:-}", "model": "glm-5",
             "match_rules": {"models": ["glm-*"], "header": {"name": "x-backend", "value": "glm"}}}
        ]
    })
}

/// The stderr line of backend `name` in the summary table.
fn row<'a>(stderr: &'a str, name: &str) -> &'a str {
    stderr
        .lines()
        .find(|l| l.split_whitespace().next() == Some(name))
        .unwrap_or_else(|| panic!("no summary row for `{name}`:\n{stderr}"))
}

#[test]
fn startup_lists_backends_routes_upstreams_key_states_and_base_urls() {
    let proxy = Proxy::start(config());
    let stderr = std::fs::read_to_string(proxy.dir.join("stderr.log")).unwrap();
    let base = proxy.url("");

    let mock = row(&stderr, "mock");
    for needle in ["mock", "default", "built in", "not needed"] {
        assert!(mock.contains(needle), "{needle:?} missing: {mock}");
    }
    let kimi = row(&stderr, "kimi");
    for needle in [
        " chat ",
        "prefix /kimi",
        "https://api.moonshot.cn ",
        "set (written in the config file)",
    ] {
        assert!(kimi.contains(needle), "{needle:?} missing: {kimi}");
    }
    let glm = row(&stderr, "glm");
    for needle in [
        "models glm-*",
        "header x-backend: glm",
        "http://127.0.0.1:9 ",
        "not set: CCP_STARTUP_TEST_UNSET_KEY is unset",
    ] {
        assert!(glm.contains(needle), "{needle:?} missing: {glm}");
    }
    // The Codex base_url of each route.
    assert!(
        stderr
            .lines()
            .any(|l| l.trim_start().starts_with(&format!("{base}/v1 "))
                && l.contains("default backend `mock`")),
        "{stderr}"
    );
    assert!(
        stderr.lines().any(
            |l| l.trim_start().starts_with(&format!("{base}/kimi/v1 ")) && l.contains("`kimi`")
        ),
        "{stderr}"
    );
    // No key, no URL path.
    assert!(!stderr.contains(UPSTREAM_KEY), "{stderr}");
    assert!(!stderr.contains(PATH_SECRET), "{stderr}");
    // Printed once on stderr in human form, not again as log lines.
    assert!(!stderr.contains("codex_base_url="), "{stderr}");

    // The same facts, one JSON event per backend, in the log file (flushed within 100 ms).
    let log_file = proxy.log_dir().join("codex-convert-proxy.log");
    let deadline = Instant::now() + Duration::from_secs(10);
    let events: Vec<Value> = loop {
        let text = std::fs::read_to_string(&log_file).unwrap_or_default();
        let events: Vec<Value> = text
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|e| e["fields"]["message"] == "backend")
            .collect();
        if events.len() == 3 || Instant::now() > deadline {
            assert!(!text.contains(PATH_SECRET), "{text}");
            break events;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(events.len(), 3, "{events:#?}");
    let kimi = &events[1]["fields"];
    assert_eq!(kimi["backend"], "kimi");
    assert_eq!(kimi["protocol"], "chat");
    assert_eq!(kimi["route"], "prefix /kimi");
    assert_eq!(kimi["upstream"], "https://api.moonshot.cn");
    assert_eq!(kimi["codex_base_url"], format!("{base}/kimi/v1"));
    assert_eq!(events[1]["level"], "INFO");
    // Proxy's Drop scans stderr and the log files for the key once more.
}
