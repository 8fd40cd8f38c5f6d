//! llama.cpp `llama-server`: reasoning in `reasoning_content` (with `--reasoning-format`),
//! random tool-call ids, a `timings` usage chunk; context overflows have their own error type.

use crate::profile::{
    common, no_model_rules, EffortScale, ErrorClass, ErrorCode, ErrorView, Profile,
    ReasoningControl, Rules, COMPATIBLE_RULES,
};

pub static PROFILE: Profile = Profile {
    id: "llamacpp",
    title: "llama.cpp llama-server",
    aliases: &["llama-cpp", "llama.cpp", "llama_cpp", "llama-server"],
    name_hints: &["llamacpp", "llamaserver"],
    hosts: &[],
    base_urls: &["http://127.0.0.1:8080/v1"],
    rules: Rules {
        reasoning_control: ReasoningControl::Effort(EffortScale::LowMediumHigh {
            none_disables: false,
        }),
        keep_strict: true,
        parallel_tool_calls: true,
        ..COMPATIBLE_RULES
    },
    for_model: no_model_rules,
    classify_error,
    notes: &[
        "tools need `--jinja`; a named tool_choice is treated as `auto` by the server",
        "start the server with a context size large enough for Codex's prompt (`-c`)",
    ],
};

fn classify_error(status: u16, error: &ErrorView) -> Option<ErrorClass> {
    let class = |code, what: &str| Some(ErrorClass::new(code, what, error));
    if common::is_context_overflow(error) {
        return class(
            ErrorCode::ContextLengthExceeded,
            "the conversation is longer than the server's context size — restart llama-server with a larger -c",
        );
    }
    if error.code_is(&["unavailable_error"]) || error.message_has(&["loading model"]) {
        return class(
            ErrorCode::ServerIsOverloaded,
            "llama-server is still loading the model",
        );
    }
    common::by_status(status, error)
}
