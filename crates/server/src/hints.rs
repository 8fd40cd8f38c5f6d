//! Messages for paths that show a mis-composed client base URL.

use axum::http::Method;

/// The 404 message for `path`, explaining a mis-composed base URL when the path shows one.
pub fn not_found_message(method: &Method, path: &str) -> String {
    let base_hint = "Set the client's base URL to http://<proxy-host>:<port>/v1 (plus a backend prefix such as /kimi/v1 if you route by prefix); the client appends /responses or /chat/completions itself.";
    if path.contains("/chat/completions/responses") || path.ends_with("/chat/completions/responses")
    {
        return format!(
            "{method} {path}: the client's base URL ends in /chat/completions, so it appended /responses to it. {base_hint}"
        );
    }
    if path.contains("/responses/chat/completions") {
        return format!(
            "{method} {path}: the client's base URL ends in /responses and it appended /chat/completions (a Chat Completions client). Chat Completions is served at POST /v1/chat/completions; {base_hint}"
        );
    }
    if path.contains("/v1/v1/") || path.ends_with("/v1/v1") {
        return format!("{method} {path}: the path has a doubled /v1 — the base URL already ends in /v1 and something appended another. {base_hint}");
    }
    if path.ends_with("/chat/completions") {
        return format!(
            "{method} {path}: no such endpoint; Chat Completions is served at POST /v1/chat/completions (or /chat/completions), at the root or under a backend prefix. {base_hint}"
        );
    }
    format!("{method} {path}: no such endpoint. This proxy serves POST /v1/responses, POST /v1/chat/completions, GET /v1/models and GET /health. {base_hint}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explains_each_mistake() {
        let m = not_found_message(&Method::POST, "/v1/chat/completions/responses");
        assert!(m.contains("ends in /chat/completions"), "{m}");
        let m = not_found_message(&Method::POST, "/v1/v1/responses");
        assert!(m.contains("doubled /v1"), "{m}");
        let m = not_found_message(&Method::POST, "/v1/responses/chat/completions");
        assert!(m.contains("ends in /responses"), "{m}");
        let m = not_found_message(&Method::GET, "/nope");
        assert!(m.contains("no such endpoint"), "{m}");
    }
}
