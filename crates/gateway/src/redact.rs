//! Removes secrets from anything that may be logged or returned.
//!
//! The redactor knows every configured secret (upstream keys, client keys) and replaces each
//! occurrence with `[REDACTED]`; header maps additionally lose `authorization`, `x-api-key` and
//! `api-key` values whatever they hold.

use std::borrow::Cow;
use std::sync::Arc;

/// Replaces known secret values in text.
#[derive(Clone, Default)]
pub struct Redactor {
    secrets: Arc<[String]>,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Redactor({} secrets)", self.secrets.len())
    }
}

/// Header names whose values are always hidden.
pub const SECRET_HEADERS: &[&str] = &[
    "authorization",
    "x-api-key",
    "api-key",
    "proxy-authorization",
    "cookie",
];

impl Redactor {
    /// A redactor for these secrets (empty and very short values are ignored: they would
    /// redact ordinary text and are not real keys).
    pub fn new<I: IntoIterator<Item = String>>(secrets: I) -> Self {
        let mut secrets: Vec<String> = secrets.into_iter().filter(|s| s.len() >= 4).collect();
        // Longest first, so a key that contains another is replaced whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        secrets.dedup();
        Redactor {
            secrets: secrets.into(),
        }
    }

    /// The text with every known secret replaced.
    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut out = Cow::Borrowed(text);
        for s in self.secrets.iter() {
            if out.contains(s.as_str()) {
                out = Cow::Owned(out.replace(s.as_str(), "[REDACTED]"));
            }
        }
        out
    }

    /// A printable header value: secret headers are hidden entirely.
    pub fn header_value<'a>(&self, name: &str, value: &'a str) -> Cow<'a, str> {
        if SECRET_HEADERS.iter().any(|h| name.eq_ignore_ascii_case(h)) {
            Cow::Borrowed("[REDACTED]")
        } else {
            self.redact(value)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_known_secrets_and_secret_headers() {
        let r = Redactor::new(vec![
            "sk-upstream-123".to_owned(),
            "sk-client-456".to_owned(),
            String::new(),
        ]);
        assert_eq!(
            r.redact("key sk-upstream-123 and sk-client-456"),
            "key [REDACTED] and [REDACTED]"
        );
        assert_eq!(
            r.header_value("Authorization", "Bearer anything"),
            "[REDACTED]"
        );
        assert_eq!(r.header_value("x-other", "plain"), "plain");
    }
}
