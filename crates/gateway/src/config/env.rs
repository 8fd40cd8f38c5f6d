//! `${VAR}` / `${VAR:-default}` references inside config strings, resolved once at load.
//!
//! Invariants: the lookup is injected (`&dyn Fn(&str) -> Option<String>`) so tests never touch
//! the process environment; a `$` not followed by `{` is literal text; an unset (or empty)
//! variable without a `:-` default is an error that names the variable, never a silent empty
//! string. Resolved values are secrets and are never part of an error message.

use std::fmt;

/// The outcome of expanding one config string.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Expanded {
    /// The text with every reference replaced.
    pub value: String,
    /// Names of the variables referenced, in order (for "export X" hints; not secret).
    pub vars: Vec<String>,
}

impl fmt::Debug for Expanded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Expanded")
            .field("value", &"[redacted]")
            .field("vars", &self.vars)
            .finish()
    }
}

/// Why a string could not be expanded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum EnvError {
    /// `${NAME}` where NAME is unset or empty and no `:-` default was given.
    Unset(String),
    /// `${` without a closing `}`.
    Unterminated,
    /// `${...}` whose name is not `[A-Za-z_][A-Za-z0-9_]*`.
    BadName(String),
}

/// Replaces every `${NAME}` and `${NAME:-default}` in `input` using `env`.
///
/// Like the shell, `:-` applies when the variable is unset *or* empty.
pub(crate) fn expand_env_refs(
    input: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Expanded, EnvError> {
    let mut value = String::with_capacity(input.len());
    let mut vars = Vec::new();
    let mut rest = input;
    while let Some(start) = rest.find("${") {
        value.push_str(&rest[..start]);
        let after_open = &rest[start + 2..];
        let Some(close) = after_open.find('}') else {
            return Err(EnvError::Unterminated);
        };
        let inner = &after_open[..close];
        let (name, default) = match inner.split_once(":-") {
            Some((name, default)) => (name, Some(default)),
            None => (inner, None),
        };
        if !is_valid_var_name(name) {
            return Err(EnvError::BadName(inner.to_owned()));
        }
        let found = env(name).filter(|v| !v.is_empty());
        match (found, default) {
            (Some(v), _) => value.push_str(&v),
            (None, Some(default)) => value.push_str(default),
            (None, None) => return Err(EnvError::Unset(name.to_owned())),
        }
        vars.push(name.to_owned());
        rest = &after_open[close + 1..];
    }
    value.push_str(rest);
    Ok(Expanded { value, vars })
}

fn is_valid_var_name(name: &str) -> bool {
    let mut chars = name.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphabetic() || c == '_' => {}
        _ => return false,
    }
    chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// An environment holding exactly `pairs`.
    pub(crate) fn env_of(
        pairs: &'static [(&'static str, &'static str)],
    ) -> impl Fn(&str) -> Option<String> {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn plain_text_is_unchanged() {
        let env = env_of(&[]);
        let out = expand_env_refs("sk-abc$123{x}", &env).unwrap();
        assert_eq!(out.value, "sk-abc$123{x}");
        assert!(out.vars.is_empty());
    }

    #[test]
    fn whole_and_mixed_references_resolve() {
        let env = env_of(&[("KEY", "sk-1"), ("ORG", "o9")]);
        let out = expand_env_refs("${KEY}", &env).unwrap();
        assert_eq!(out.value, "sk-1");
        let out = expand_env_refs("Bearer ${KEY}/${ORG}!", &env).unwrap();
        assert_eq!(out.value, "Bearer sk-1/o9!");
        assert_eq!(out.vars, vec!["KEY".to_owned(), "ORG".to_owned()]);
    }

    #[test]
    fn default_applies_when_unset_or_empty() {
        let env = env_of(&[("EMPTY", "")]);
        assert_eq!(expand_env_refs("${NOPE:-}", &env).unwrap().value, "");
        assert_eq!(
            expand_env_refs("${NOPE:-fallback}", &env).unwrap().value,
            "fallback"
        );
        assert_eq!(expand_env_refs("${EMPTY:-d}", &env).unwrap().value, "d");
        let set = env_of(&[("K", "real")]);
        assert_eq!(expand_env_refs("${K:-d}", &set).unwrap().value, "real");
    }

    #[test]
    fn errors_name_the_problem() {
        let env = env_of(&[("EMPTY", "")]);
        assert_eq!(
            expand_env_refs("x${MISSING}", &env),
            Err(EnvError::Unset("MISSING".into()))
        );
        assert_eq!(
            expand_env_refs("${EMPTY}", &env),
            Err(EnvError::Unset("EMPTY".into()))
        );
        assert_eq!(expand_env_refs("${OPEN", &env), Err(EnvError::Unterminated));
        assert_eq!(
            expand_env_refs("${1BAD}", &env),
            Err(EnvError::BadName("1BAD".into()))
        );
        assert_eq!(
            expand_env_refs("${}", &env),
            Err(EnvError::BadName(String::new()))
        );
    }

    #[test]
    fn debug_hides_the_value() {
        let env = env_of(&[("K", "sk-secret-value")]);
        let out = expand_env_refs("${K}", &env).unwrap();
        assert!(!format!("{out:?}").contains("sk-secret-value"));
    }
}
