//! Model-name patterns shared by the allowlist and the price table: `*` matches any run of
//! characters (none included), anywhere and any number of times; everything else matches itself,
//! ASCII case-insensitively (providers treat `MiniMax-M2` and `minimax-m2` as one model).

/// Whether `name` matches `pattern`.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let (p, n) = (pattern.as_bytes(), name.as_bytes());
    let (mut pi, mut ni) = (0, 0);
    // The last `*` seen and where in `name` its current match ends (classic backtracking with
    // one saved star: linear for patterns of a few stars).
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, ni));
            pi += 1;
        } else if pi < p.len() && p[pi].eq_ignore_ascii_case(&n[ni]) {
            pi += 1;
            ni += 1;
        } else if let Some((sp, sn)) = star {
            pi = sp + 1;
            ni = sn + 1;
            star = Some((sp, sn + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

/// How specific a pattern is: its number of literal characters (more wins).
pub fn specificity(pattern: &str) -> usize {
    pattern.bytes().filter(|&c| c != b'*').count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_match("kimi-*", "kimi-k2"));
        assert!(glob_match("kimi-*", "kimi-"));
        assert!(!glob_match("kimi-*", "kimi"));
        assert!(!glob_match("kimi-*", "moonshot-kimi-k2"));
        assert!(glob_match("*-thinking", "kimi-k2-thinking"));
        assert!(glob_match("glm-*-air", "glm-4.5-air"));
        assert!(!glob_match("glm-*-air", "glm-4.5-airx"));
        assert!(glob_match("*", ""));
        assert!(glob_match("a*b*c", "aXXbYYbc"));
        assert!(!glob_match("a*b*c", "aXXbYYbd"));
        assert!(glob_match("MiniMax-M2", "minimax-m2"));
        assert!(!glob_match("gpt-4o", "gpt-4o-mini"));
        assert_eq!(specificity("gpt-4o*"), 6);
    }
}
