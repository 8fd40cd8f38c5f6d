//! `telemetry` (trace export over OTLP) and `metrics_listen` (issue 15).
//!
//! `otlp_protocol` is `grpc` (the default, the collector's port 4317) or `http/protobuf`; an
//! endpoint on port 4318 selects HTTP when the protocol is not given. `headers` go to the
//! collector with every export; their values may be `${ENV}` references and are held as
//! [`Secret`]s (never shown: summaries list the header names only). `sample_ratio` (0–1) is the
//! share of new traces recorded; `capture_content` exports prompt and completion text.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use ccp_telemetry::{OtlpProtocol, TraceSettings};
use serde::Deserialize;

use super::env::{expand_env_refs, Expanded};
use super::Secret;

pub(crate) const DEFAULT_SERVICE_NAME: &str = "codex-convert-proxy";
pub(crate) const DEFAULT_OTLP_ENDPOINT: &str = "http://localhost:4317";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTelemetry {
    pub enabled: Option<bool>,
    pub service_name: Option<String>,
    pub otlp_endpoint: Option<String>,
    pub otlp_protocol: Option<String>,
    pub headers: Option<BTreeMap<String, String>>,
    pub sample_ratio: Option<f64>,
    pub capture_content: Option<bool>,
}

/// OpenTelemetry export settings.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Telemetry {
    pub enabled: bool,
    pub service_name: String,
    pub otlp_endpoint: String,
    pub otlp_protocol: OtlpProtocol,
    /// Header name (lowercase) and value, sent to the collector.
    pub headers: Vec<(String, Secret)>,
    pub sample_ratio: f64,
    pub capture_content: bool,
}

impl Telemetry {
    /// What the exporter needs, when export is enabled.
    pub fn trace_settings(&self) -> Option<TraceSettings> {
        self.enabled.then(|| TraceSettings {
            service_name: self.service_name.clone(),
            endpoint: self.otlp_endpoint.clone(),
            protocol: self.otlp_protocol,
            headers: self
                .headers
                .iter()
                .map(|(n, v)| (n.clone(), v.expose().to_owned()))
                .collect(),
            sample_ratio: self.sample_ratio,
            capture_content: self.capture_content,
        })
    }

    /// The header values, for the redactor.
    pub fn secret_values(&self) -> impl Iterator<Item = String> + '_ {
        self.headers.iter().map(|(_, v)| v.expose().to_owned())
    }
}

/// Validates `telemetry`; problems go to `push(path, message)`.
pub(crate) fn validate_telemetry(
    raw: Option<RawTelemetry>,
    env: &dyn Fn(&str) -> Option<String>,
    check_url: &dyn Fn(&str) -> Result<(), String>,
    push: &mut dyn FnMut(String, String),
) -> Telemetry {
    let raw = raw.unwrap_or(RawTelemetry {
        enabled: None,
        service_name: None,
        otlp_endpoint: None,
        otlp_protocol: None,
        headers: None,
        sample_ratio: None,
        capture_content: None,
    });
    let service_name = raw
        .service_name
        .unwrap_or_else(|| DEFAULT_SERVICE_NAME.to_owned());
    if service_name.trim().is_empty() {
        push(
            "telemetry.service_name".into(),
            format!("is empty — set a name such as {DEFAULT_SERVICE_NAME:?} or remove the field"),
        );
    }
    let otlp_endpoint = raw
        .otlp_endpoint
        .unwrap_or_else(|| DEFAULT_OTLP_ENDPOINT.to_owned());
    if let Err(why) = check_url(&otlp_endpoint) {
        push(
            "telemetry.otlp_endpoint".into(),
            format!(
                "{otlp_endpoint:?} {why} — use the collector's http:// or https:// address, \
                 e.g. {DEFAULT_OTLP_ENDPOINT:?} (gRPC) or \"http://localhost:4318\" (HTTP)"
            ),
        );
    }
    let otlp_protocol = match raw.otlp_protocol.as_deref() {
        None if port_of(&otlp_endpoint) == Some(4318) => OtlpProtocol::HttpProtobuf,
        None | Some("grpc") => OtlpProtocol::Grpc,
        Some("http/protobuf") => OtlpProtocol::HttpProtobuf,
        Some(other) => {
            push(
                "telemetry.otlp_protocol".into(),
                format!(
                    "{other:?} is not an OTLP protocol — use \"grpc\" (port 4317) or \
                     \"http/protobuf\" (port 4318)"
                ),
            );
            OtlpProtocol::Grpc
        }
    };
    let headers = validate_headers(raw.headers.unwrap_or_default(), env, push);
    let sample_ratio = raw.sample_ratio.unwrap_or(1.0);
    if !(0.0..=1.0).contains(&sample_ratio) {
        push(
            "telemetry.sample_ratio".into(),
            format!(
                "{sample_ratio} is not a ratio — use a number from 0 (no new traces) to 1 (every \
                 trace, the default), e.g. 0.1"
            ),
        );
    }
    Telemetry {
        enabled: raw.enabled.unwrap_or(false),
        service_name,
        otlp_endpoint,
        otlp_protocol,
        headers,
        sample_ratio: sample_ratio.clamp(0.0, 1.0),
        capture_content: raw.capture_content.unwrap_or(false),
    }
}

fn validate_headers(
    raw: BTreeMap<String, String>,
    env: &dyn Fn(&str) -> Option<String>,
    push: &mut dyn FnMut(String, String),
) -> Vec<(String, Secret)> {
    let mut headers = Vec::new();
    for (name, value) in raw {
        let path = format!("telemetry.headers.{name}");
        if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
            push(
                path,
                "is not a valid HTTP header name — use letters, digits and '-', e.g. \
                 \"x-api-key\""
                    .into(),
            );
            continue;
        }
        match expand_env_refs(&value, env) {
            Ok(Expanded { value, .. }) => {
                if http::HeaderValue::from_str(&value).is_err() {
                    push(
                        path,
                        "its value cannot go in an HTTP header (control characters or a line \
                         break) — check the value or the variable it names"
                            .into(),
                    );
                    continue;
                }
                headers.push((name.to_ascii_lowercase(), Secret::new(value)));
            }
            Err(e) => push(
                path,
                format!(
                    "cannot resolve an environment reference: {e:?} — export the variable or \
                     write the value"
                ),
            ),
        }
    }
    headers
}

fn port_of(url: &str) -> Option<u16> {
    url.parse::<http::Uri>().ok()?.port_u16()
}

/// Validates `metrics_listen`: a socket address other than `listen`.
pub(crate) fn validate_metrics_listen(
    raw: Option<&str>,
    listen: Option<SocketAddr>,
    push: &mut dyn FnMut(String, String),
) -> Option<SocketAddr> {
    let text = raw?;
    match text.parse::<SocketAddr>() {
        Ok(addr) if Some(addr) == listen && addr.port() != 0 => {
            push(
                "metrics_listen".into(),
                format!(
                    "{text:?} is the same address as `listen` — give /metrics its own port, e.g. \
                     \"127.0.0.1:9464\", or remove the field to serve /metrics on the main \
                     listener"
                ),
            );
            None
        }
        Ok(addr) => Some(addr),
        Err(_) => {
            push(
                "metrics_listen".into(),
                format!("{text:?} is not an IP address with a port — use e.g. \"127.0.0.1:9464\""),
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn validate(
        raw: RawTelemetry,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> (Telemetry, Vec<String>) {
        let mut problems = Vec::new();
        let t = validate_telemetry(Some(raw), env, &|_| Ok(()), &mut |p, m| {
            problems.push(format!("{p}: {m}"))
        });
        (t, problems)
    }

    fn raw(endpoint: &str) -> RawTelemetry {
        RawTelemetry {
            enabled: Some(true),
            service_name: None,
            otlp_endpoint: Some(endpoint.into()),
            otlp_protocol: None,
            headers: None,
            sample_ratio: None,
            capture_content: None,
        }
    }

    #[test]
    fn port_4318_selects_http_and_defaults_apply() {
        let (t, problems) = validate(raw("http://c:4318"), &|_| None);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(t.otlp_protocol, OtlpProtocol::HttpProtobuf);
        assert_eq!(t.sample_ratio, 1.0);
        assert!(!t.capture_content);
        let (t, _) = validate(raw("http://c:4317"), &|_| None);
        assert_eq!(t.otlp_protocol, OtlpProtocol::Grpc);
        let mut explicit = raw("http://c:4318");
        explicit.otlp_protocol = Some("grpc".into());
        assert_eq!(
            validate(explicit, &|_| None).0.otlp_protocol,
            OtlpProtocol::Grpc
        );
    }

    #[test]
    fn headers_resolve_and_never_show() {
        let mut r = raw("http://c:4317");
        r.headers = Some(BTreeMap::from([("X-Api-Key".into(), "${OTLP_KEY}".into())]));
        let env = |n: &str| (n == "OTLP_KEY").then(|| "collector-secret-55".to_owned());
        let (t, problems) = validate(r, &env);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(t.headers[0].0, "x-api-key");
        assert_eq!(t.headers[0].1.expose(), "collector-secret-55");
        assert!(!format!("{t:?}").contains("collector-secret-55"));
        let settings = t.trace_settings().unwrap();
        assert!(!format!("{settings:?}").contains("collector-secret-55"));
    }

    #[test]
    fn bad_values_are_named() {
        let mut r = raw("http://c:4317");
        r.otlp_protocol = Some("http/json".into());
        r.sample_ratio = Some(1.5);
        r.headers = Some(BTreeMap::from([
            ("bad name".into(), "v".into()),
            ("x-k".into(), "${UNSET_VAR}".into()),
        ]));
        let (_, problems) = validate(r, &|_| None);
        let paths: Vec<&str> = problems
            .iter()
            .map(|p| p.split(':').next().unwrap())
            .collect();
        assert_eq!(
            paths,
            [
                "telemetry.otlp_protocol",
                "telemetry.headers.bad name",
                "telemetry.headers.x-k",
                "telemetry.sample_ratio"
            ]
        );
    }

    #[test]
    fn metrics_listen_must_be_its_own_address() {
        let mut problems = Vec::new();
        let listen = "127.0.0.1:8280".parse().ok();
        let mut push = |p: String, m: String| problems.push(format!("{p}: {m}"));
        assert_eq!(
            validate_metrics_listen(Some("127.0.0.1:9464"), listen, &mut push),
            "127.0.0.1:9464".parse().ok()
        );
        assert_eq!(
            validate_metrics_listen(Some("127.0.0.1:8280"), listen, &mut push),
            None
        );
        assert_eq!(
            validate_metrics_listen(Some("9464"), listen, &mut push),
            None
        );
        assert_eq!(validate_metrics_listen(None, listen, &mut push), None);
        assert_eq!(problems.len(), 2, "{problems:?}");
    }
}
