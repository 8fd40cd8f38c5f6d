//! The README's configuration reference and the fields the config accepts, held together:
//! every accepted field has a row in its table, and every row names an accepted field. The
//! accepted names come from serde itself (the "unknown field …, expected one of …" error), so a
//! field added to a raw struct fails this test until the README documents it.

use std::collections::BTreeSet;

use super::parse_str;

const BOGUS: &str = "ccp_bogus_field";

/// Each README table (by the start of the line above it) and a config with a bogus field in the
/// object that table documents.
const TABLES: &[(&str, &str)] = &[
    ("Top level:", r#"{"ccp_bogus_field": 1}"#),
    (
        "Backend (each entry of `backends`):",
        r#"{"backends": [{"ccp_bogus_field": 1}]}"#,
    ),
    (
        "`match_rules` (in a backend)",
        r#"{"backends": [{"match_rules": {"ccp_bogus_field": 1}}]}"#,
    ),
    (
        "`match_rules.header`:",
        r#"{"backends": [{"match_rules": {"header": {"ccp_bogus_field": 1}}}]}"#,
    ),
    ("`telemetry`:", r#"{"telemetry": {"ccp_bogus_field": 1}}"#),
    ("`storage`:", r#"{"storage": {"ccp_bogus_field": 1}}"#),
    ("`cache`", r#"{"cache": {"ccp_bogus_field": 1}}"#),
    (
        "Model group (each entry of `model_groups`)",
        r#"{"model_groups": [{"ccp_bogus_field": 1}]}"#,
    ),
];

/// Names quoted in backticks.
fn backticked(text: &str) -> BTreeSet<String> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

/// The field names serde lists for the object holding the bogus field of `config`.
fn accepted_fields(config: &str) -> BTreeSet<String> {
    let err = match parse_str(config, &|_| None) {
        Ok(_) => panic!("{config}: a bogus field was accepted"),
        Err(err) => err,
    };
    let message = err
        .0
        .iter()
        .map(|p| p.message.as_str())
        .find(|m| m.starts_with(&format!("unknown field `{BOGUS}`")))
        .unwrap_or_else(|| panic!("{config}: no unknown-field problem in {err}"));
    let (_, listed) = message
        .split_once(", expected ")
        .unwrap_or_else(|| panic!("no field list in {message}"));
    let listed = listed.split(" — ").next().unwrap_or_default();
    backticked(listed)
}

/// The README's reference tables: (the line above the table, the names in its rows' first cells).
fn readme_tables() -> Vec<(String, BTreeSet<String>)> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md");
    let readme = std::fs::read_to_string(path).unwrap();
    let (_, section) = readme.split_once("## Configuration reference").unwrap();
    let section = section.split("\n## ").next().unwrap();
    let mut tables: Vec<(String, BTreeSet<String>)> = Vec::new();
    let mut label = String::new();
    let mut in_table = false;
    for line in section.lines() {
        if let Some(row) = line.strip_prefix('|') {
            if !in_table {
                tables.push((label.clone(), BTreeSet::new()));
                in_table = true;
                continue; // the header row
            }
            let first_cell = row.split('|').next().unwrap_or_default();
            if let Some((_, names)) = tables.last_mut() {
                names.extend(backticked(first_cell));
            }
        } else {
            in_table = false;
            if !line.trim().is_empty() {
                label = line.trim().to_owned();
            }
        }
    }
    tables
}

#[test]
fn readme_reference_lists_exactly_the_accepted_fields() {
    let tables = readme_tables();
    for (label, _) in &tables {
        assert!(
            TABLES.iter().any(|(start, _)| label.starts_with(start)),
            "README table after {label:?} is not one of the reference tables this test knows; \
             add it to TABLES"
        );
    }
    for (start, probe) in TABLES {
        let accepted = accepted_fields(probe);
        assert!(accepted.len() >= 2, "{start} {accepted:?}");
        let Some((_, documented)) = tables.iter().find(|(label, _)| label.starts_with(start))
        else {
            panic!("README.md has no table after a line starting {start:?}");
        };
        let undocumented: Vec<&String> = accepted.difference(documented).collect();
        assert!(
            undocumented.is_empty(),
            "README.md, table {start:?}: no row for {undocumented:?} — add one row per field: \
             | `name` | default | meaning |"
        );
        let unknown: Vec<&String> = documented.difference(&accepted).collect();
        assert!(
            unknown.is_empty(),
            "README.md, table {start:?}: rows for {unknown:?}, which the config does not accept"
        );
    }
}
