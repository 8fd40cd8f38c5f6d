//! Choosing a profile for a backend: explicit `provider` › backend name › URL host › `generic`.
//!
//! Name matching lower-cases the backend name and removes `-`, `_`, `.` and spaces, then looks
//! for each profile's hints in registry order (aggregators first, so `openrouter-glm` is
//! OpenRouter and `tencent-deepseek` is LKEAP). URL matching looks only at the host (and port).

use super::ProviderId;

/// A rule matching an upstream URL's host.
#[derive(Debug, Clone, Copy)]
pub enum HostPattern {
    /// The host or any subdomain of it (`bigmodel.cn` matches `open.bigmodel.cn`).
    Domain(&'static str),
    /// A host inside `domain` with a label starting with `label_prefix`
    /// (`dashscope` in `aliyuncs.com` matches `dashscope-intl.aliyuncs.com` and
    /// `coding.dashscope.aliyuncs.com`).
    LabelIn {
        label_prefix: &'static str,
        domain: &'static str,
    },
    /// Any host on this port (Ollama's 11434).
    Port(u16),
}

impl HostPattern {
    fn matches(self, host: &str, port: Option<u16>) -> bool {
        let within = |domain: &str| {
            host == domain
                || host
                    .strip_suffix(domain)
                    .is_some_and(|rest| rest.ends_with('.'))
        };
        match self {
            HostPattern::Domain(domain) => within(domain),
            HostPattern::LabelIn {
                label_prefix,
                domain,
            } => {
                within(domain)
                    && host
                        .strip_suffix(domain)
                        .unwrap_or("")
                        .split('.')
                        .any(|label| label.starts_with(label_prefix))
            }
            HostPattern::Port(p) => port == Some(p),
        }
    }

    /// A short description for docs and `describe`.
    pub fn describe(self) -> String {
        match self {
            HostPattern::Domain(d) => d.to_owned(),
            HostPattern::LabelIn {
                label_prefix,
                domain,
            } => format!("{label_prefix}*.{domain}"),
            HostPattern::Port(p) => format!("any host on port {p}"),
        }
    }
}

/// The profile for a backend.
///
/// * `explicit`: the backend's `provider`; an id or alias, case-insensitive. An unknown name is
///   an error whose text lists the valid names.
/// * `backend_name`: matched against each profile's name hints.
/// * `url`: matched against each profile's hosts.
///
/// Falls back to `generic`.
pub fn infer_provider(
    explicit: Option<&str>,
    backend_name: &str,
    url: Option<&str>,
) -> Result<ProviderId, String> {
    if let Some(name) = explicit {
        return ProviderId::parse(name).ok_or_else(|| {
            let valid: Vec<&str> = ProviderId::all().map(ProviderId::as_str).collect();
            format!(
                "unknown provider {name:?} — use one of: {}",
                valid.join(", ")
            )
        });
    }
    if let Some(id) = by_backend_name(backend_name) {
        return Ok(id);
    }
    if let Some(id) = url.and_then(by_url) {
        return Ok(id);
    }
    Ok(ProviderId::generic())
}

fn normalize(name: &str) -> String {
    name.chars()
        .filter(|c| !matches!(c, '-' | '_' | '.' | ' '))
        .flat_map(char::to_lowercase)
        .collect()
}

fn by_backend_name(name: &str) -> Option<ProviderId> {
    if let Some(id) = ProviderId::parse(name) {
        return Some(id);
    }
    let normalized = normalize(name);
    if normalized.is_empty() {
        return None;
    }
    ProviderId::all().find(|id| {
        id.profile()
            .name_hints
            .iter()
            .any(|hint| normalized.contains(&normalize(hint)))
    })
}

/// `(host, port)` of a URL, host lower-cased; `None` when there is no host.
fn host_and_port(url: &str) -> Option<(String, Option<u16>)> {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next()?;
    let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (host, after) = v6.split_once(']')?;
        (host, after.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return None;
    }
    let port = port.and_then(|p| p.parse().ok());
    Some((host.trim_end_matches('.').to_ascii_lowercase(), port))
}

fn by_url(url: &str) -> Option<ProviderId> {
    let (host, port) = host_and_port(url)?;
    ProviderId::all().find(|id| {
        id.profile()
            .hosts
            .iter()
            .any(|pattern| pattern.matches(&host, port))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_parsing() {
        assert_eq!(
            host_and_port("https://User:pw@API.DeepSeek.com:443/v1?x#y"),
            Some(("api.deepseek.com".into(), Some(443)))
        );
        assert_eq!(
            host_and_port("http://[::1]:11434/v1"),
            Some(("::1".into(), Some(11434)))
        );
        assert_eq!(
            host_and_port("localhost:8080"),
            Some(("localhost".into(), Some(8080)))
        );
        assert_eq!(host_and_port("http:///x"), None);
    }

    #[test]
    fn domain_patterns_respect_label_boundaries() {
        let d = HostPattern::Domain("z.ai");
        assert!(d.matches("api.z.ai", None));
        assert!(d.matches("z.ai", None));
        assert!(!d.matches("bz.ai", None));
        let l = HostPattern::LabelIn {
            label_prefix: "dashscope",
            domain: "aliyuncs.com",
        };
        assert!(l.matches("dashscope-intl.aliyuncs.com", None));
        assert!(l.matches("coding.dashscope.aliyuncs.com", None));
        assert!(!l.matches("oss.aliyuncs.com", None));
        assert!(!l.matches("dashscope.example.com", None));
    }
}
