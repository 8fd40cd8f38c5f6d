//! The registry of provider profiles: one module per provider, one line each below.
//!
//! Order matters for backend-name and URL inference: the first profile whose hints match wins,
//! so aggregators that front other vendors' models (OpenRouter, Tencent LKEAP) and local servers
//! come before the model vendors, and `generic` (which matches nothing) is last.

use crate::profile::Profile;

pub mod deepseek;
pub mod generic;
pub mod glm;
pub mod kimi;
pub mod lkeap;
pub mod llamacpp;
pub mod minimax;
pub mod ollama;
pub mod openai;
pub mod openrouter;
pub mod qwen;
pub mod vllm;

/// Every profile, in inference priority order.
pub static REGISTRY: &[&Profile] = &[
    &openrouter::PROFILE,
    &lkeap::PROFILE,
    &ollama::PROFILE,
    &vllm::PROFILE,
    &llamacpp::PROFILE,
    &glm::PROFILE,
    &kimi::PROFILE,
    &deepseek::PROFILE,
    &minimax::PROFILE,
    &qwen::PROFILE,
    &openai::PROFILE,
    &generic::PROFILE,
];
