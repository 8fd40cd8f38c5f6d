//! Anthropic-compatible endpoints of other providers: what each needs changed in a Messages
//! request the converter built (`ccp_convert::anthropic::request`), as data.
//!
//! The `anthropic` kind picks a dialect from the backend's provider profile (explicit
//! `provider`, else the backend name, else the URL host — the same inference as the chat kind,
//! see [`crate::profile::infer_provider`]) and applies it with
//! [`AnthropicDialect::shape_request`]. Providers without an entry (Anthropic itself, and
//! every unrecognised server) get [`ANTHROPIC`]: the API as Anthropic documents it.
//!
//! Invariant of a shaped request: it only ever loses what the dialect says the endpoint refuses
//! or ignores; turn order, tool pairing and thinking blocks the endpoint accepts are untouched.
//! Adding a provider is one entry in [`DIALECTS`].

use ccp_types::anthropic::{ContentBlock, MessagesRequest};

use crate::profile::ProviderId;

/// Which header carries the backend's key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnthropicAuth {
    /// `x-api-key: <key>` (Anthropic).
    XApiKey,
    /// `Authorization: Bearer <key>` (what the provider's own Claude Code setup sends, as
    /// `ANTHROPIC_AUTH_TOKEN`).
    Bearer,
}

impl AnthropicAuth {
    /// The header name, for docs and diagnostics.
    pub fn header_name(self) -> &'static str {
        match self {
            AnthropicAuth::XApiKey => "x-api-key",
            AnthropicAuth::Bearer => "authorization",
        }
    }
}

/// One provider's Anthropic-compatible endpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct AnthropicDialect {
    /// The provider profile id this dialect belongs to (`anthropic` for the default).
    pub provider: &'static str,
    /// Base URLs to put in the backend's `url` (the proxy appends `/v1/messages`).
    pub base_urls: &'static [&'static str],
    pub auth: AnthropicAuth,
    /// `cache_control` breakpoints are sent (when the backend's `prompt_cache` is on).
    pub cache_control: bool,
    /// `redacted_thinking` blocks may be replayed (otherwise dropped from the history).
    pub redacted_thinking: bool,
    /// `image` blocks are accepted (otherwise each becomes a short text placeholder).
    pub images: bool,
    /// `temperature` must be above 0: a 0 is raised to this value.
    pub min_temperature: Option<f64>,
    /// Model names in the provider's docs, for `describe` and docs.
    pub models: &'static [&'static str],
    /// Known limits and advice, with their source.
    pub notes: &'static [&'static str],
}

/// Text sent instead of an image to an endpoint that accepts none.
pub const IMAGE_PLACEHOLDER: &str = "[image omitted: this upstream does not accept images]";

/// Anthropic's own API, and the default for any server without an entry.
pub const ANTHROPIC: AnthropicDialect = AnthropicDialect {
    provider: "anthropic",
    base_urls: &["https://api.anthropic.com"],
    auth: AnthropicAuth::XApiKey,
    cache_control: true,
    redacted_thinking: true,
    images: true,
    min_temperature: None,
    models: &["claude-sonnet-4-5", "claude-opus-4-1", "claude-haiku-4-5"],
    notes: &[],
};

/// Every provider with its own dialect.
pub static DIALECTS: &[AnthropicDialect] = &[
    AnthropicDialect {
        provider: "deepseek",
        base_urls: &["https://api.deepseek.com/anthropic"],
        // Both x-api-key and Bearer are accepted (Bearer wins when both are sent).
        auth: AnthropicAuth::XApiKey,
        cache_control: false,
        redacted_thinking: false,
        images: true,
        min_temperature: None,
        models: &["deepseek-v4-flash", "deepseek-v4-pro"],
        notes: &[
            "cache_control is ignored (the prefix cache is automatic), so none is sent",
            "assistant turns accept text, thinking and tool_use blocks, not redacted_thinking",
            "unknown model names not starting with claude are a 400; claude-opus* maps to \
             deepseek-v4-pro, other claude* names to the flash model",
            "source: api-docs.deepseek.com/guides/anthropic_api and /api/create-message",
        ],
    },
    AnthropicDialect {
        provider: "kimi",
        base_urls: &[
            "https://api.moonshot.ai/anthropic",
            "https://api.moonshot.cn/anthropic",
            "https://api.kimi.com/coding",
        ],
        auth: AnthropicAuth::Bearer,
        cache_control: true,
        redacted_thinking: true,
        images: true,
        min_temperature: None,
        models: &["kimi-k2.6", "kimi-k3", "kimi-for-coding"],
        notes: &[
            "the key goes in Authorization: Bearer (Moonshot's Claude Code setup uses \
             ANTHROPIC_AUTH_TOKEN); keys are region-bound (.ai vs .cn)",
            "temperature is 0-1 as for Claude; the chat kind's sampling rules for thinking \
             models are not documented for this endpoint",
        ],
    },
    AnthropicDialect {
        provider: "glm",
        base_urls: &[
            "https://open.bigmodel.cn/api/anthropic",
            "https://api.z.ai/api/anthropic",
        ],
        auth: AnthropicAuth::Bearer,
        cache_control: true,
        redacted_thinking: true,
        images: true,
        min_temperature: None,
        models: &["glm-4.7", "glm-5", "glm-4.5-air"],
        notes: &[
            "the key goes in Authorization: Bearer (Z.ai's Claude Code setup uses \
             ANTHROPIC_AUTH_TOKEN); a Coding Plan key is used only through the coding endpoints",
        ],
    },
    AnthropicDialect {
        provider: "minimax",
        base_urls: &[
            "https://api.minimax.io/anthropic",
            "https://api.minimaxi.com/anthropic",
        ],
        auth: AnthropicAuth::Bearer,
        cache_control: true,
        redacted_thinking: true,
        images: false,
        min_temperature: Some(0.01),
        models: &["MiniMax-M3", "MiniMax-M2.7", "MiniMax-M2.7-highspeed"],
        notes: &[
            "temperature must be in (0, 1]: a 0 is sent as 0.01",
            "image and document blocks are not supported: images become a text placeholder",
            "the whole assistant turn (thinking, text, tool_use) must be replayed in tool loops \
             — the proxy does this for every Anthropic upstream",
            "source: platform.minimax.io/docs/api-reference/text-anthropic-api",
        ],
    },
];

impl AnthropicDialect {
    /// The dialect of a provider profile; [`ANTHROPIC`] when it has none.
    pub fn for_provider(provider: ProviderId) -> &'static AnthropicDialect {
        DIALECTS
            .iter()
            .find(|d| d.provider == provider.as_str())
            .unwrap_or(&ANTHROPIC)
    }

    /// Whether breakpoints go out, given the backend's `prompt_cache` setting.
    pub fn sends_cache_control(&self, prompt_cache: bool) -> bool {
        prompt_cache && self.cache_control
    }

    /// Rewrites a converted request for this endpoint (see the module docs).
    pub fn shape_request(&self, request: &mut MessagesRequest) {
        if !self.cache_control {
            strip_cache_control(request);
        }
        if let (Some(min), Some(t)) = (self.min_temperature, request.temperature) {
            if t < min {
                request.temperature = Some(min);
            }
        }
        for message in &mut request.messages {
            if !self.redacted_thinking {
                message
                    .content
                    .retain(|b| !matches!(b, ContentBlock::RedactedThinking { .. }));
            }
            if !self.images {
                for block in &mut message.content {
                    replace_images(block);
                }
            }
        }
    }
}

fn strip_cache_control(request: &mut MessagesRequest) {
    for block in &mut request.system {
        block.cache_control = None;
    }
    for tool in &mut request.tools {
        tool.cache_control = None;
    }
    for message in &mut request.messages {
        for block in &mut message.content {
            if let ContentBlock::ToolResult { content, .. } = block {
                for inner in content {
                    if let Some(slot) = inner.cache_control_mut() {
                        *slot = None;
                    }
                }
            }
            if let Some(slot) = block.cache_control_mut() {
                *slot = None;
            }
        }
    }
}

fn replace_images(block: &mut ContentBlock) {
    match block {
        ContentBlock::Image { .. } => *block = ContentBlock::text(IMAGE_PLACEHOLDER),
        ContentBlock::ToolResult { content, .. } => content.iter_mut().for_each(replace_images),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ccp_types::anthropic::{
        CacheControl, ImageSource, Message, Role, SystemBlock, Thinking, Tool,
    };
    use serde_json::json;

    fn request() -> MessagesRequest {
        let image = ContentBlock::Image {
            source: ImageSource::Url {
                url: "https://x/cat.png".into(),
            },
            cache_control: None,
        };
        MessagesRequest {
            model: "m".into(),
            max_tokens: 100,
            system: vec![SystemBlock {
                cache_control: Some(CacheControl::ephemeral()),
                ..SystemBlock::text("sys")
            }],
            tools: vec![Tool {
                name: "t".into(),
                description: None,
                input_schema: json!({"type": "object"}),
                cache_control: Some(CacheControl::ephemeral()),
            }],
            messages: vec![
                Message {
                    role: Role::User,
                    content: vec![ContentBlock::text("look"), image.clone()],
                },
                Message {
                    role: Role::Assistant,
                    content: vec![
                        ContentBlock::RedactedThinking {
                            data: "opaque".into(),
                        },
                        ContentBlock::Thinking {
                            thinking: "hm".into(),
                            signature: "sig".into(),
                        },
                        ContentBlock::ToolUse {
                            id: "toolu_1".into(),
                            name: "t".into(),
                            input: json!({}),
                            cache_control: None,
                        },
                    ],
                },
                Message {
                    role: Role::User,
                    content: vec![ContentBlock::ToolResult {
                        tool_use_id: "toolu_1".into(),
                        content: vec![image],
                        is_error: None,
                        cache_control: Some(CacheControl::ephemeral()),
                    }],
                },
            ],
            thinking: Some(Thinking::Enabled { budget_tokens: 50 }),
            temperature: Some(0.0),
            ..Default::default()
        }
    }

    fn dialect(id: &str) -> &'static AnthropicDialect {
        AnthropicDialect::for_provider(ProviderId::parse(id).unwrap())
    }

    #[test]
    fn anthropic_and_unknown_providers_change_nothing() {
        for id in ["generic", "openai", "qwen"] {
            let d = dialect(id);
            assert_eq!(d.provider, "anthropic");
            let mut r = request();
            d.shape_request(&mut r);
            assert_eq!(r, request(), "{id}");
        }
        assert!(dialect("generic").sends_cache_control(true));
        assert!(!dialect("generic").sends_cache_control(false));
    }

    #[test]
    fn each_provider_has_its_own_auth_header() {
        assert_eq!(dialect("deepseek").auth, AnthropicAuth::XApiKey);
        for id in ["kimi", "glm", "minimax"] {
            assert_eq!(dialect(id).auth, AnthropicAuth::Bearer, "{id}");
        }
        assert_eq!(dialect("zhipu").provider, "glm");
    }

    #[test]
    fn deepseek_loses_breakpoints_and_redacted_thinking_only() {
        let d = dialect("deepseek");
        assert!(!d.sends_cache_control(true));
        let mut r = request();
        d.shape_request(&mut r);
        let body = serde_json::to_string(&r).unwrap();
        assert!(!body.contains("cache_control"), "{body}");
        assert!(!body.contains("redacted_thinking"), "{body}");
        assert!(body.contains("\"signature\":\"sig\""), "{body}");
        assert!(body.contains("cat.png"), "{body}");
        assert_eq!(r.temperature, Some(0.0));
        assert!(r.thinking.is_some());
        // The thinking block still opens the tool turn.
        assert!(matches!(
            r.messages[1].content[0],
            ContentBlock::Thinking { .. }
        ));
    }

    #[test]
    fn minimax_gets_no_images_and_a_positive_temperature() {
        let mut r = request();
        dialect("minimax").shape_request(&mut r);
        let body = serde_json::to_string(&r).unwrap();
        assert!(!body.contains("\"image\""), "{body}");
        assert!(body.contains("cache_control"), "{body}");
        assert_eq!(
            r.messages[0].content[1],
            ContentBlock::text(IMAGE_PLACEHOLDER)
        );
        let ContentBlock::ToolResult { content, .. } = &r.messages[2].content[0] else {
            panic!("{body}")
        };
        assert_eq!(content[0], ContentBlock::text(IMAGE_PLACEHOLDER));
        assert_eq!(r.temperature, Some(0.01));
        let mut warm = request();
        warm.temperature = Some(0.7);
        dialect("minimax").shape_request(&mut warm);
        assert_eq!(warm.temperature, Some(0.7));
    }

    #[test]
    fn kimi_and_glm_change_only_the_auth_header() {
        for id in ["kimi", "glm"] {
            let mut r = request();
            dialect(id).shape_request(&mut r);
            assert_eq!(r, request(), "{id}");
        }
    }

    #[test]
    fn the_url_host_selects_the_dialect_when_no_provider_is_named() {
        let by_url = |url: &str| {
            let id = crate::profile::infer_provider(None, "main", Some(url)).unwrap();
            AnthropicDialect::for_provider(id).provider
        };
        assert_eq!(by_url("https://api.z.ai/api/anthropic"), "glm");
        assert_eq!(by_url("https://open.bigmodel.cn/api/anthropic"), "glm");
        assert_eq!(by_url("https://api.moonshot.cn/anthropic"), "kimi");
        assert_eq!(by_url("https://api.kimi.com/coding"), "kimi");
        assert_eq!(by_url("https://api.minimaxi.com/anthropic"), "minimax");
        assert_eq!(by_url("https://api.deepseek.com/anthropic"), "deepseek");
        assert_eq!(by_url("https://api.anthropic.com"), "anthropic");
    }

    #[test]
    fn every_dialect_names_a_known_provider_and_a_base_url() {
        for d in DIALECTS {
            assert!(ProviderId::parse(d.provider).is_some(), "{}", d.provider);
            assert!(!d.base_urls.is_empty());
            assert_eq!(
                AnthropicDialect::for_provider(ProviderId::parse(d.provider).unwrap()),
                d
            );
        }
    }
}
