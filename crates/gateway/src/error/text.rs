//! Text helpers for error messages: the retry delay named in a provider's message, keeping
//! "try again in" unique, and quoting upstream text safely (bounded, key-like tokens scrubbed).

/// Longest piece of upstream text quoted in a message.
const MAX_QUOTED: usize = 500;

/// Rewrites the upstream's own "try again in" so the proxy's phrase is the only one.
pub(super) fn neutralize_try_again(text: &str) -> String {
    // ASCII lowercasing keeps byte offsets, so positions in `lower` are positions in `text`.
    let lower = text.to_ascii_lowercase();
    let needle = "try again in";
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    let mut from = 0;
    while let Some(found) = lower[from..].find(needle) {
        let start = from + found;
        out.push_str(&text[last..start]);
        out.push_str("retry after");
        last = start + needle.len();
        from = last;
    }
    out.push_str(&text[last..]);
    out
}

/// Upstream text fit to quote: trimmed, truncated and scrubbed of key-like tokens.
pub(super) fn quote(text: &str) -> String {
    let text = text.trim().trim_end_matches('.');
    scrub_secrets(&truncate(text, MAX_QUOTED))
}

/// Replaces tokens that look like credentials (`sk-…`, `eyJ…` JWTs, long mixed letter-digit
/// strings such as GLM's `id.secret` keys) with `[REDACTED]`.
pub fn scrub_secrets(text: &str) -> String {
    let is_token_char =
        |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '+' | '=');
    let mut out = String::with_capacity(text.len());
    let mut token = String::new();
    let flush = |token: &mut String, out: &mut String| {
        if looks_like_secret(token) {
            out.push_str("[REDACTED]");
        } else {
            out.push_str(token);
        }
        token.clear();
    };
    for c in text.chars() {
        if is_token_char(c) {
            token.push(c);
        } else {
            flush(&mut token, &mut out);
            out.push(c);
        }
    }
    flush(&mut token, &mut out);
    out
}

fn looks_like_secret(token: &str) -> bool {
    let t = token.trim_matches('.');
    let prefixed = ["sk-", "sk_", "ak-", "rk-", "eyJ"]
        .iter()
        .any(|p| t.starts_with(p));
    if prefixed && t.len() >= 16 {
        return true;
    }
    let letters = t.chars().filter(char::is_ascii_alphabetic).count();
    let digits = t.chars().filter(char::is_ascii_digit).count();
    t.len() >= 32 && letters >= 4 && digits >= 4
}

pub(super) fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}
