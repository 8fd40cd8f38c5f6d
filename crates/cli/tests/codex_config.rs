//! `codex-convert-proxy codex-config`: the generated Codex config parses, routes every backend
//! through the right base URL, and `--write` never clobbers files without `--force`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_codex-convert-proxy");

const CONFIG: &str = r#"{
  "listen": "0.0.0.0:18555",
  "backends": [
    {"name": "mock", "protocol": "mock", "model": "mock-model", "models": ["mock-2"],
     "match_rules": {"default": true}},
    {"name": "kimi", "protocol": "mock", "model": "kimi-k2", "models": ["mock-2", "kimi-k2-thinking"],
     "context_window": 200000, "match_rules": {"path_prefix": "/kimi"}},
    {"name": "tagged", "protocol": "mock", "model": "tagged-model",
     "match_rules": {"header": {"name": "X-Backend", "value": "tagged"}}}
  ]
}"#;

struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        static N: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "ccp-codex-config-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn write_config(dir: &TempDir, text: &str) -> PathBuf {
    let path = dir.path().join("proxy.json");
    std::fs::write(&path, text).unwrap();
    path
}

fn run(config: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("-c")
        .arg(config)
        .arg("codex-config")
        .args(args)
        .env_remove("CODEX_HOME")
        .output()
        .unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn printed_toml(args: &[&str]) -> toml::Table {
    let dir = TempDir::new("print");
    let config = write_config(&dir, CONFIG);
    let home = dir.path().join("home");
    let mut all = vec!["--codex-home", home.to_str().unwrap()];
    all.extend_from_slice(args);
    let out = run(&config, &all);
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    stdout(&out)
        .parse::<toml::Table>()
        .unwrap_or_else(|e| panic!("not TOML: {e}\n{}", stdout(&out)))
}

fn provider<'a>(t: &'a toml::Table, id: &str) -> &'a toml::Table {
    t["model_providers"][id]
        .as_table()
        .unwrap_or_else(|| panic!("no [model_providers.{id}] in {t:#?}"))
}

#[test]
fn printed_config_is_toml_with_one_provider_per_route() {
    let t = printed_toml(&["--proxy-url", "http://127.0.0.1:9999"]);
    assert_eq!(t["model"].as_str(), Some("mock-model"));
    assert_eq!(t["model_provider"].as_str(), Some("proxy"));
    assert_eq!(t["web_search"].as_str(), Some("disabled"));
    let catalog = t["model_catalog_json"].as_str().unwrap();
    assert!(Path::new(catalog).is_absolute(), "{catalog}");
    assert!(
        catalog.ends_with("codex-convert-proxy-models.json"),
        "{catalog}"
    );

    let providers = t["model_providers"].as_table().unwrap();
    let mut ids: Vec<&String> = providers.keys().collect();
    ids.sort();
    assert_eq!(ids, ["proxy", "proxy-kimi", "proxy-tagged"]);
    assert_eq!(
        provider(&t, "proxy")["base_url"].as_str(),
        Some("http://127.0.0.1:9999/v1")
    );
    assert_eq!(
        provider(&t, "proxy-kimi")["base_url"].as_str(),
        Some("http://127.0.0.1:9999/kimi/v1")
    );
    assert_eq!(
        provider(&t, "proxy-tagged")["base_url"].as_str(),
        Some("http://127.0.0.1:9999/v1")
    );
    assert_eq!(
        provider(&t, "proxy-tagged")["http_headers"]["x-backend"].as_str(),
        Some("tagged"),
        "a header-routed backend gets its header through http_headers"
    );
    for (id, p) in providers {
        let p = p.as_table().unwrap();
        assert_eq!(p["wire_api"].as_str(), Some("responses"), "{id}");
        assert_eq!(p["env_key"].as_str(), Some("CODEX_PROXY_KEY"), "{id}");
        assert_eq!(p["supports_websockets"].as_bool(), Some(true), "{id}");
        let name = p["name"].as_str().unwrap();
        assert!(
            !name.eq_ignore_ascii_case("openai") && !name.eq_ignore_ascii_case("azure"),
            "{id}: {name}"
        );
        assert!(p["base_url"].as_str().unwrap().ends_with("/v1"), "{id}");
    }
    assert!(
        t.get("profiles").is_none(),
        "Codex 0.169 rejects -p while [profiles.*] exists"
    );
}

#[test]
fn proxy_url_comes_from_listen_with_loopback_for_unspecified() {
    let t = printed_toml(&[]);
    assert_eq!(
        provider(&t, "proxy")["base_url"].as_str(),
        Some("http://127.0.0.1:18555/v1")
    );
}

#[test]
fn proxy_url_with_trailing_v1_does_not_double_it() {
    let t = printed_toml(&["--proxy-url", "http://10.0.0.5:8280/v1/"]);
    assert_eq!(
        provider(&t, "proxy")["base_url"].as_str(),
        Some("http://10.0.0.5:8280/v1")
    );
    assert_eq!(
        provider(&t, "proxy-kimi")["base_url"].as_str(),
        Some("http://10.0.0.5:8280/kimi/v1")
    );
}

#[test]
fn client_key_env_flag_sets_every_env_key() {
    let t = printed_toml(&["--client-key-env", "MY_PROXY_KEY"]);
    for (id, p) in t["model_providers"].as_table().unwrap() {
        assert_eq!(p["env_key"].as_str(), Some("MY_PROXY_KEY"), "{id}");
    }
}

#[test]
fn bad_client_key_env_is_rejected() {
    let dir = TempDir::new("badenv");
    let config = write_config(&dir, CONFIG);
    let out = run(&config, &["--client-key-env", "NOT A NAME"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn invalid_proxy_config_exits_2_with_the_problems() {
    let dir = TempDir::new("invalid");
    let config = write_config(&dir, r#"{"backends": []}"#);
    let out = run(&config, &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("invalid config"), "{}", stderr(&out));
    assert!(out.stdout.is_empty());
}

#[test]
fn write_creates_config_catalog_and_profiles() {
    let dir = TempDir::new("write");
    let config = write_config(&dir, CONFIG);
    let home = dir.path().join("codex home");
    let out = run(
        &config,
        &[
            "--write",
            "--codex-home",
            home.to_str().unwrap(),
            "--proxy-url",
            "http://127.0.0.1:7000",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));

    let text = std::fs::read_to_string(home.join("config.toml")).unwrap();
    let t: toml::Table = text.parse().unwrap();
    let catalog_path = t["model_catalog_json"].as_str().unwrap();
    assert_eq!(
        Path::new(catalog_path),
        home.join("codex-convert-proxy-models.json")
    );

    let kimi: toml::Table = std::fs::read_to_string(home.join("kimi.config.toml"))
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(kimi["model"].as_str(), Some("kimi-k2"));
    assert_eq!(kimi["model_provider"].as_str(), Some("proxy-kimi"));
    let mock: toml::Table = std::fs::read_to_string(home.join("mock.config.toml"))
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(mock["model_provider"].as_str(), Some("proxy"));
    let tagged: toml::Table = std::fs::read_to_string(home.join("tagged.config.toml"))
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(tagged["model_provider"].as_str(), Some("proxy-tagged"));
    for (_, p) in [("kimi", &kimi), ("mock", &mock), ("tagged", &tagged)] {
        let id = p["model_provider"].as_str().unwrap();
        assert!(
            t["model_providers"].get(id).is_some(),
            "profile names a provider that exists: {id}"
        );
    }
}

#[test]
fn catalog_has_one_freeform_entry_per_model() {
    let dir = TempDir::new("catalog");
    let config = write_config(&dir, CONFIG);
    let home = dir.path().join("home");
    let out = run(
        &config,
        &["--write", "--codex-home", home.to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let catalog: Value = serde_json::from_str(
        &std::fs::read_to_string(home.join("codex-convert-proxy-models.json")).unwrap(),
    )
    .unwrap();
    let models = catalog["models"].as_array().unwrap();
    let slugs: Vec<&str> = models.iter().map(|m| m["slug"].as_str().unwrap()).collect();
    assert_eq!(
        slugs,
        [
            "mock-model",
            "mock-2",
            "kimi-k2",
            "kimi-k2-thinking",
            "tagged-model"
        ]
    );
    for m in models {
        let slug = m["slug"].as_str().unwrap();
        assert_eq!(m["apply_patch_tool_type"], "freeform", "{slug}");
        assert!(
            m["base_instructions"]
                .as_str()
                .is_some_and(|s| s.contains("apply_patch")),
            "{slug}"
        );
        assert_eq!(m["shell_type"], "default", "{slug}");
        assert_eq!(m["visibility"], "list", "{slug}");
        assert_eq!(m["supported_in_api"], true, "{slug}");
        assert_eq!(m["truncation_policy"]["mode"], "bytes", "{slug}");
        assert!(
            m["availability_nux"].is_null() && m["upgrade"].is_null(),
            "{slug}"
        );
        assert!(
            m["experimental_supported_tools"]
                .as_array()
                .is_some_and(|a| a.is_empty()),
            "{slug}"
        );
        let efforts: Vec<&str> = m["supported_reasoning_levels"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| {
                assert!(l["description"].is_string(), "{slug}");
                l["effort"].as_str().unwrap()
            })
            .collect();
        assert_eq!(efforts, ["low", "medium", "high"], "{slug}");
    }
    let window =
        |slug: &str| models.iter().find(|m| m["slug"] == slug).unwrap()["context_window"].as_u64();
    assert_eq!(window("kimi-k2"), Some(200_000));
    assert_eq!(window("kimi-k2-thinking"), Some(200_000));
    assert_eq!(window("mock-model"), Some(128_000));
    assert_eq!(
        window("mock-2"),
        Some(128_000),
        "first backend naming a model wins"
    );
}

#[test]
fn write_refuses_to_overwrite_without_force_and_overwrites_with_it() {
    let dir = TempDir::new("force");
    let config = write_config(&dir, CONFIG);
    let home = dir.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::write(home.join("config.toml"), "# mine\nmodel = \"o3\"\n").unwrap();
    let home_arg = home.to_str().unwrap();

    let refused = run(&config, &["--write", "--codex-home", home_arg]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        stderr(&refused).contains("refusing to overwrite"),
        "{}",
        stderr(&refused)
    );
    assert!(stderr(&refused).contains("--force"), "{}", stderr(&refused));
    assert_eq!(
        std::fs::read_to_string(home.join("config.toml")).unwrap(),
        "# mine\nmodel = \"o3\"\n"
    );
    assert!(
        !home.join("codex-convert-proxy-models.json").exists(),
        "nothing is written when refusing"
    );
    assert!(
        !home.join("kimi.config.toml").exists(),
        "nothing is written when refusing"
    );

    let forced = run(&config, &["--write", "--force", "--codex-home", home_arg]);
    assert!(forced.status.success(), "{}", stderr(&forced));
    let now = std::fs::read_to_string(home.join("config.toml")).unwrap();
    assert!(now.contains("[model_providers.proxy]"), "{now}");
    assert_eq!(
        std::fs::read_to_string(home.join("config.toml.bak")).unwrap(),
        "# mine\nmodel = \"o3\"\n",
        "the old config is kept"
    );

    // A second run refuses again because of the files it wrote itself (catalog, profiles).
    std::fs::remove_file(home.join("config.toml")).unwrap();
    let again = run(&config, &["--write", "--codex-home", home_arg]);
    assert_eq!(again.status.code(), Some(1));
    assert!(
        stderr(&again).contains("codex-convert-proxy-models.json"),
        "{}",
        stderr(&again)
    );
}

#[test]
fn codex_home_env_is_the_default_target() {
    let dir = TempDir::new("envhome");
    let config = write_config(&dir, CONFIG);
    let home = dir.path().join("from-env");
    let out = Command::new(BIN)
        .arg("-c")
        .arg(&config)
        .args(["codex-config", "--write"])
        .env("CODEX_HOME", &home)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(home.join("config.toml").exists());
}

#[test]
fn print_catalog_prints_json() {
    let dir = TempDir::new("printcat");
    let config = write_config(&dir, CONFIG);
    let out = run(&config, &["--print-catalog"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["models"].as_array().map(Vec::len), Some(5));
}

#[test]
fn a_model_group_gets_one_entry_with_its_smallest_context_window() {
    let dir = TempDir::new("catalog-group");
    let text = CONFIG.trim_end().trim_end_matches('}').to_owned()
        + r#", "model_groups": [{"model": "team", "backends": ["kimi", "mock"]},
                               {"model": "glob-*", "backends": ["mock"]}]}"#;
    let config = write_config(&dir, &text);
    let home = dir.path().join("home");
    let out = run(
        &config,
        &["--write", "--codex-home", home.to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let catalog: Value = serde_json::from_str(
        &std::fs::read_to_string(home.join("codex-convert-proxy-models.json")).unwrap(),
    )
    .unwrap();
    let models = catalog["models"].as_array().unwrap();
    let slugs: Vec<&str> = models.iter().map(|m| m["slug"].as_str().unwrap()).collect();
    assert_eq!(slugs[0], "team", "{slugs:?}");
    assert!(!slugs.iter().any(|s| s.contains('*')), "{slugs:?}");
    // kimi has 200000, the mock the default 128000: a fallback may have to fit the smaller.
    assert_eq!(models[0]["context_window"], 128_000);
    assert!(
        models[0]["description"]
            .as_str()
            .unwrap()
            .contains("model group: kimi, mock"),
        "{}",
        models[0]
    );
}
