//! `codex-convert-proxy usage`: what the proxy's usage records say, summed by key, by model and
//! by day, read from the store the config names (the one a running proxy writes to). `--json`
//! prints the same sums as one JSON object.
//!
//! Keys are named by their identity id (`client-key-0`, `vk_…`), never by a secret; the records
//! hold no prompt or completion text.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::process::ExitCode;

use ccp_governance::calendar::{civil_from_days, days_from_civil};
use ccp_store::{Store, UsageSummaryRow, DAY_SECS};
use serde::Serialize;

/// Flags of `usage`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Days to cover, ending today (UTC). Ignored with --since.
    #[arg(long, default_value_t = 7)]
    days: u32,
    /// First day (UTC), as YYYY-MM-DD.
    #[arg(long)]
    since: Option<String>,
    /// Last day (UTC, included), as YYYY-MM-DD; default today.
    #[arg(long)]
    until: Option<String>,
    /// Print JSON instead of tables.
    #[arg(long)]
    json: bool,
}

/// Sums over a set of rows.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Sums {
    pub requests: u64,
    pub input_tokens: u64,
    pub cached_input_tokens: u64,
    pub output_tokens: u64,
    pub reasoning_tokens: u64,
    pub cost_micro_usd: u64,
    pub cache_hits: u64,
}

impl Sums {
    fn add(&mut self, r: &UsageSummaryRow) {
        self.requests += r.requests;
        self.input_tokens += r.input_tokens;
        self.cached_input_tokens += r.cached_input_tokens;
        self.output_tokens += r.output_tokens;
        self.reasoning_tokens += r.reasoning_tokens;
        self.cost_micro_usd += r.cost_micro_usd;
        self.cache_hits += r.cache_hits;
    }
}

/// One line of a table: a name and its sums.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Line {
    pub name: String,
    #[serde(flatten)]
    pub sums: Sums,
}

/// The whole report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// First day covered (YYYY-MM-DD, UTC).
    pub since: String,
    /// Last day covered, included.
    pub until: String,
    pub total: Sums,
    pub by_key: Vec<Line>,
    pub by_model: Vec<Line>,
    pub by_day: Vec<Line>,
}

/// `YYYY-MM-DD` of the UTC day starting at `day` (Unix seconds).
pub fn day_name(day: i64) -> String {
    let (y, m, d) = civil_from_days(day.div_euclid(DAY_SECS));
    format!("{y:04}-{m:02}-{d:02}")
}

/// The first second of the UTC day `text` (YYYY-MM-DD) names.
pub fn parse_day(text: &str) -> Result<i64, String> {
    let bad = || format!("`{text}` is not a date: write it as YYYY-MM-DD");
    let mut parts = text.trim().splitn(3, '-');
    let mut next = || parts.next().ok_or_else(bad);
    let y: i64 = next()?.parse().map_err(|_| bad())?;
    let m: u32 = next()?.parse().map_err(|_| bad())?;
    let d: u32 = next()?.parse().map_err(|_| bad())?;
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return Err(bad());
    }
    Ok(days_from_civil(y, m, d) * DAY_SECS)
}

/// Sums `rows` by key, model and day (keys and models by cost, highest first; days in order).
pub fn report(rows: &[UsageSummaryRow], since: i64, until_day: i64) -> Report {
    let mut total = Sums::default();
    let mut keys: BTreeMap<String, Sums> = BTreeMap::new();
    let mut models: BTreeMap<String, Sums> = BTreeMap::new();
    let mut days: BTreeMap<i64, Sums> = BTreeMap::new();
    for r in rows {
        total.add(r);
        let key = r.key_id.clone().unwrap_or_else(|| "(none)".to_owned());
        keys.entry(key).or_default().add(r);
        models.entry(r.model.clone()).or_default().add(r);
        days.entry(r.day).or_default().add(r);
    }
    let ranked = |map: BTreeMap<String, Sums>| {
        let mut lines: Vec<Line> = map
            .into_iter()
            .map(|(name, sums)| Line { name, sums })
            .collect();
        lines.sort_by(|a, b| {
            (b.sums.cost_micro_usd, b.sums.requests).cmp(&(a.sums.cost_micro_usd, a.sums.requests))
        });
        lines
    };
    Report {
        since: day_name(since),
        until: day_name(until_day),
        total,
        by_key: ranked(keys),
        by_model: ranked(models),
        by_day: days
            .into_iter()
            .map(|(day, sums)| Line {
                name: day_name(day),
                sums,
            })
            .collect(),
    }
}

/// `$1.234567` from micro-USD.
pub fn usd(micro: u64) -> String {
    format!("${}.{:06}", micro / 1_000_000, micro % 1_000_000)
}

/// The report as text tables.
pub fn human(report: &Report) -> String {
    let mut out = format!(
        "Usage {} .. {} (UTC): {} requests, {} in ({} cached), {} out ({} reasoning), {}\n",
        report.since,
        report.until,
        report.total.requests,
        report.total.input_tokens,
        report.total.cached_input_tokens,
        report.total.output_tokens,
        report.total.reasoning_tokens,
        usd(report.total.cost_micro_usd)
    );
    for (title, lines) in [
        ("key", &report.by_key),
        ("model", &report.by_model),
        ("day", &report.by_day),
    ] {
        let _ = writeln!(out, "\nBy {title}:");
        if lines.is_empty() {
            let _ = writeln!(out, "  (no requests)");
            continue;
        }
        let w = lines
            .iter()
            .map(|l| l.name.len())
            .chain([title.len()])
            .max()
            .unwrap_or(0);
        let _ = writeln!(
            out,
            "  {title:w$}  {:>9}  {:>12}  {:>12}  {:>12}  {:>10}  {:>14}",
            "requests", "input", "cached", "output", "cache hits", "cost"
        );
        for l in lines {
            let s = &l.sums;
            let _ = writeln!(
                out,
                "  {:w$}  {:>9}  {:>12}  {:>12}  {:>12}  {:>10}  {:>14}",
                l.name,
                s.requests,
                s.input_tokens,
                s.cached_input_tokens,
                s.output_tokens,
                s.cache_hits,
                usd(s.cost_micro_usd)
            );
        }
    }
    out
}

fn today() -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(0))
        .unwrap_or(0);
    now - now.rem_euclid(DAY_SECS)
}

/// Runs the command.
pub fn run(config_path: &Path, args: Args) -> ExitCode {
    let config = match crate::load_config(config_path) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let until_day = match args.until.as_deref().map(parse_day).transpose() {
        Ok(d) => d.unwrap_or_else(today),
        Err(e) => {
            eprintln!("--until: {e}");
            return ExitCode::from(2);
        }
    };
    let since = match args.since.as_deref().map(parse_day).transpose() {
        Ok(Some(d)) => d,
        Ok(None) => until_day - i64::from(args.days.max(1) - 1) * DAY_SECS,
        Err(e) => {
            eprintln!("--since: {e}");
            return ExitCode::from(2);
        }
    };
    let rt = match crate::runtime(Some(1)) {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    let location = config.storage.location.expose().to_owned();
    let rows = rt.block_on(async {
        let store = Store::open(&location).await?;
        let rows = store.summarize_usage(since, until_day + DAY_SECS).await;
        store.close().await;
        rows
    });
    let rows = match rows {
        Ok(rows) => rows,
        Err(e) => {
            eprintln!(
                "cannot read usage records from the store at {}: {e}",
                config.storage.display_location()
            );
            return ExitCode::FAILURE;
        }
    };
    let report = report(&rows, since, until_day);
    if args.json {
        match serde_json::to_string_pretty(&report) {
            Ok(s) => println!("{s}"),
            Err(e) => {
                eprintln!("could not print the report: {e}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        print!("{}", human(&report));
    }
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(day: i64, key: &str, model: &str, cost: u64) -> UsageSummaryRow {
        UsageSummaryRow {
            day,
            key_id: Some(key.to_owned()),
            model: model.to_owned(),
            requests: 2,
            input_tokens: 100,
            cached_input_tokens: 10,
            output_tokens: 50,
            reasoning_tokens: 5,
            cost_micro_usd: cost,
            cache_hits: 1,
        }
    }

    #[test]
    fn days_parse_and_print_in_utc() {
        assert_eq!(parse_day("1970-01-02"), Ok(DAY_SECS));
        assert_eq!(day_name(parse_day("2026-11-30").unwrap_or(0)), "2026-11-30");
        assert!(parse_day("2026-13-01").is_err());
        assert!(parse_day("yesterday").is_err());
    }

    #[test]
    fn sums_by_key_model_and_day() {
        let d0 = parse_day("2026-01-01").unwrap_or(0);
        let rows = [
            row(d0, "vk_a", "kimi", 1_500_000),
            row(d0, "vk_b", "glm", 10),
            row(d0 + DAY_SECS, "vk_a", "glm", 20),
        ];
        let r = report(&rows, d0, d0 + DAY_SECS);
        assert_eq!(r.total.requests, 6);
        assert_eq!(r.total.cost_micro_usd, 1_500_030);
        assert_eq!(r.by_key[0].name, "vk_a", "highest cost first");
        assert_eq!(r.by_key[0].sums.cost_micro_usd, 1_500_020);
        assert_eq!(r.by_model[0].name, "kimi");
        let days: Vec<&str> = r.by_day.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(days, ["2026-01-01", "2026-01-02"]);
        let text = human(&r);
        assert!(text.contains("$1.500030"), "{text}");
        assert!(text.contains("2026-01-01 .. 2026-01-02"), "{text}");
    }
}
