//! `GET /admin/v1/openapi.json`: the admin API as an OpenAPI 3.1 document, written by hand
//! (`openapi.json` next to this file) and compiled into the binary. Tests hold it to the router:
//! it must parse, and its operations must be exactly [`super::route_table`].

use axum::body::Bytes;
use axum::http::StatusCode;
use axum::response::Response;

use crate::raw_json_response;

/// The document.
pub const DOCUMENT: &str = include_str!("openapi.json");

/// The handler.
pub async fn document() -> Response {
    raw_json_response(StatusCode::OK, Bytes::from_static(DOCUMENT.as_bytes()))
}

/// The (METHOD, path) of every operation the document describes, sorted.
pub fn operations(doc: &serde_json::Value) -> Vec<(String, String)> {
    const METHODS: &[&str] = &[
        "get", "put", "post", "delete", "options", "head", "patch", "trace",
    ];
    let mut out = Vec::new();
    if let Some(paths) = doc["paths"].as_object() {
        for (path, item) in paths {
            for m in METHODS {
                if item.get(*m).is_some() {
                    out.push((m.to_ascii_uppercase(), path.clone()));
                }
            }
        }
    }
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    #[test]
    fn the_document_parses_as_openapi_3_1_and_describes_exactly_the_routes() {
        let doc: serde_json::Value = serde_json::from_str(DOCUMENT).unwrap();
        assert!(
            doc["openapi"].as_str().unwrap().starts_with("3.1."),
            "{}",
            doc["openapi"]
        );
        let mut served: Vec<(String, String)> = super::super::route_table()
            .into_iter()
            .map(|(m, p)| (m.as_str().to_owned(), p))
            .collect();
        served.sort();
        assert_eq!(operations(&doc), served);
    }

    #[test]
    fn every_reference_resolves() {
        let doc: serde_json::Value = serde_json::from_str(DOCUMENT).unwrap();
        let mut refs = Vec::new();
        collect_refs(&doc, &mut refs);
        assert!(!refs.is_empty());
        for r in refs {
            let pointer = r.strip_prefix('#').unwrap();
            assert!(doc.pointer(pointer).is_some(), "dangling $ref {r}");
        }
    }

    fn collect_refs(v: &serde_json::Value, out: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(map) => {
                for (k, v) in map {
                    match (k.as_str(), v.as_str()) {
                        ("$ref", Some(r)) => out.push(r.to_owned()),
                        _ => collect_refs(v, out),
                    }
                }
            }
            serde_json::Value::Array(items) => items.iter().for_each(|i| collect_refs(i, out)),
            _ => {}
        }
    }
}
