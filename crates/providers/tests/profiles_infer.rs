//! Profile inference (explicit `provider` › backend name › URL host › generic), the registry's
//! descriptions, and docs/providers.md staying in step with the profiles and quirks.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use ccp_providers::profile::{describe_all, infer_provider, ProviderId};
use ccp_providers::quirks::QUIRK_KEYS;
use serde_json::json;

fn infer(explicit: Option<&str>, name: &str, url: Option<&str>) -> &'static str {
    infer_provider(explicit, name, url).unwrap().as_str()
}

#[test]
fn backend_name_beats_a_loopback_url() {
    assert_eq!(
        infer(None, "minimax", Some("http://127.0.0.1:9000/v1")),
        "minimax"
    );
    assert_eq!(
        infer(None, "MiniMax-CN", Some("http://localhost:1/v1")),
        "minimax"
    );
}

#[test]
fn url_hosts_pick_the_provider() {
    let cases = [
        ("https://api.deepseek.com", "deepseek"),
        ("https://api.deepseek.com/v1", "deepseek"),
        ("https://open.bigmodel.cn/api/coding/paas/v4", "glm"),
        ("https://api.z.ai/api/paas/v4", "glm"),
        ("https://api.moonshot.cn/v1", "kimi"),
        ("https://api.moonshot.ai/v1", "kimi"),
        ("https://api.kimi.com/coding/v1", "kimi"),
        ("https://api.minimax.io/v1", "minimax"),
        ("https://api.minimaxi.com/v1", "minimax"),
        ("https://dashscope.aliyuncs.com/compatible-mode/v1", "qwen"),
        (
            "https://dashscope-intl.aliyuncs.com/compatible-mode/v1",
            "qwen",
        ),
        ("https://coding.dashscope.aliyuncs.com/v1", "qwen"),
        ("https://api.lkeap.cloud.tencent.com/plan/v3", "lkeap"),
        ("https://tokenhub.tencentmaas.com/plan/v3", "lkeap"),
        (
            "https://tokenhub-intl.tencentcloudmaas.com/plan/v3",
            "lkeap",
        ),
        ("https://openrouter.ai/api/v1", "openrouter"),
        ("https://api.openai.com/v1", "openai"),
        ("http://localhost:11434/v1", "ollama"),
        ("http://192.168.1.5:11434/v1", "ollama"),
        ("https://ollama.com/v1", "ollama"),
        ("http://localhost:8000/v1", "generic"),
        ("https://deepseek.com.evil.example/v1", "generic"),
    ];
    for (url, want) in cases {
        assert_eq!(infer(None, "upstream", Some(url)), want, "{url}");
    }
}

#[test]
fn backend_names_pick_the_provider() {
    let cases = [
        ("glm", "glm"),
        ("zhipu-coding", "glm"),
        ("zai", "glm"),
        ("bigmodel", "glm"),
        ("kimi", "kimi"),
        ("moonshot_cn", "kimi"),
        ("deepseek-v4", "deepseek"),
        ("qwen", "qwen"),
        ("dashscope-intl", "qwen"),
        ("lkeap", "lkeap"),
        ("tencent-plan", "lkeap"),
        ("openrouter", "openrouter"),
        ("vllm-local", "vllm"),
        ("llamacpp", "llamacpp"),
        ("llama-cpp", "llamacpp"),
        ("llama.cpp", "llamacpp"),
        ("ollama", "ollama"),
        ("openai", "openai"),
        // Aggregators win over the vendor they front.
        ("openrouter-glm", "openrouter"),
        ("tencent-deepseek", "lkeap"),
        // "openai" inside a name usually means "OpenAI-compatible".
        ("my-openai-compatible", "generic"),
        ("upstream", "generic"),
    ];
    for (name, want) in cases {
        assert_eq!(infer(None, name, None), want, "{name}");
    }
}

#[test]
fn explicit_provider_wins_and_unknown_names_are_errors() {
    assert_eq!(
        infer(Some("kimi"), "deepseek", Some("https://api.deepseek.com")),
        "kimi"
    );
    assert_eq!(infer(Some("Zhipu"), "x", None), "glm");
    assert_eq!(infer(Some("llama.cpp"), "x", None), "llamacpp");
    let err = infer_provider(Some("deepseak"), "deepseek", None).unwrap_err();
    assert!(err.contains("\"deepseak\""), "{err}");
    for id in ProviderId::all() {
        assert!(err.contains(id.as_str()), "{err} lacks {id}");
    }
}

#[test]
fn describe_all_lists_every_profile_and_its_changes() {
    let text = describe_all();
    for id in ProviderId::all() {
        assert!(
            text.contains(&format!("{} — ", id.as_str())),
            "{id} missing"
        );
        assert!(!common::profile(id.as_str(), json!({}))
            .describe()
            .is_empty());
    }
    assert!(
        text.contains("reasoning_split"),
        "MiniMax control described"
    );
    let deepseek = common::profile("deepseek", json!({})).describe().join("\n");
    assert!(
        deepseek.contains("reasoning_content") && deepseek.contains("high|max"),
        "{deepseek}"
    );
    let quirked = common::profile("deepseek", json!({"extra_body": {"x": 1}})).describe();
    assert!(quirked.iter().any(|l| l.contains("extra_body merged: x")));
}

fn providers_doc() -> String {
    std::fs::read_to_string(common::repo_path(&["docs", "providers.md"])).unwrap()
}

#[test]
fn docs_have_a_section_per_profile() {
    let doc = providers_doc();
    let headings: Vec<&str> = doc
        .lines()
        .filter_map(|l| l.strip_prefix("## "))
        .map(str::trim)
        .collect();
    for id in ProviderId::all() {
        assert!(
            headings.contains(&id.as_str()),
            "docs/providers.md has no `## {id}` section (headings: {headings:?})"
        );
        let section = section(&doc, &format!("## {}", id.as_str()));
        for url in id.profile().base_urls {
            assert!(section.contains(url), "## {id} does not mention {url}");
        }
    }
}

#[test]
fn docs_list_every_anthropic_dialect_with_its_base_urls() {
    let doc = providers_doc();
    let section = section(&doc, "## Anthropic-compatible endpoints");
    for d in ccp_providers::anthropic_dialect::DIALECTS {
        assert!(
            section.contains(&format!("`{}`", d.provider)),
            "{}",
            d.provider
        );
        for url in d.base_urls {
            assert!(
                section.contains(url),
                "{} does not mention {url}",
                d.provider
            );
        }
    }
}

/// The text from `heading` to the next `## `.
fn section<'a>(doc: &'a str, heading: &str) -> &'a str {
    let start = doc
        .lines()
        .position(|l| l.trim() == heading)
        .map(|i| doc.lines().take(i).map(|l| l.len() + 1).sum::<usize>())
        .unwrap();
    let rest = &doc[start + heading.len()..];
    let end = rest.find("\n## ").unwrap_or(rest.len());
    &rest[..end]
}

#[test]
fn docs_quirks_reference_covers_every_key() {
    let doc = providers_doc();
    let reference = section(&doc, "## Quirks reference");
    for key in QUIRK_KEYS {
        assert!(
            reference.contains(&format!("`{key}`")),
            "quirk `{key}` is not documented in the quirks reference"
        );
    }
}
