//! Turns one benchmark run directory into the results JSON and the markdown table.
//!
//! Input files, written by `bench/run.sh`: `<scenario>-<side>.json` (driver runs; side is
//! `floor` = the mock directly, `nginx` = the pass-through hop, `proxy`, or `litellm`), `s4-<side>.wrk.json` (wrk throughput),
//! `rss-idle.json`. Every number in the output is read from those files; a missing file is shown
//! as "not measured", never estimated.
//!
//! "Added" is a difference of percentiles (proxy p99 − floor p99), not the percentile of
//! per-request differences, since the two paths are measured one after the other. The run fails
//! when any checked answer of the floor or the proxy was wrong, or when one of their requests
//! failed: a benchmark that times wrong answers measures nothing.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::run::BoxError;

#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// The run directory with the per-scenario files.
    #[arg(long)]
    pub dir: PathBuf,
    /// `key=value` lines for the header (machine, commit, pinning, …), in order (repeatable).
    #[arg(long = "meta")]
    pub meta: Vec<String>,
    /// Where to write the results JSON.
    #[arg(long)]
    pub json_out: PathBuf,
    /// Where to write the markdown.
    #[arg(long)]
    pub md_out: PathBuf,
    /// A markdown file whose `<!-- bench:begin -->`…`<!-- bench:end -->` block gets the table.
    #[arg(long)]
    pub docs: Option<PathBuf>,
}

/// Which way a number is better.
#[derive(Clone, Copy, PartialEq)]
enum Better {
    Lower,
    Higher,
}

struct Row {
    scenario: &'static str,
    metric: String,
    unit: &'static str,
    better: Better,
    floor: Option<f64>,
    nginx: Option<f64>,
    proxy: Option<f64>,
    litellm: Option<f64>,
}

impl Row {
    fn nginx_added(&self) -> Option<f64> {
        Some(self.nginx? - self.floor?)
    }
    fn added(&self) -> Option<f64> {
        Some(self.proxy? - self.floor?)
    }
    fn litellm_added(&self) -> Option<f64> {
        Some(self.litellm? - self.floor?)
    }
    /// How many times the nginx hop's cost the proxy's is on this row: added time over added
    /// time for a latency, CPU time over CPU time. Only for microsecond rows where both sides
    /// cost something (an added time at or below zero makes the ratio meaningless).
    fn vs_nginx(&self) -> Option<f64> {
        if self.better != Better::Lower || self.unit != "µs" {
            return None;
        }
        let (proxy, nginx) = match self.floor {
            Some(_) => (self.added()?, self.nginx_added()?),
            None => (self.proxy?, self.nginx?),
        };
        (proxy > 0.0 && nginx > 0.0).then(|| proxy / nginx)
    }
    /// How many times better the proxy is than LiteLLM on this row.
    fn ratio(&self) -> Option<f64> {
        match self.better {
            Better::Higher => Some(self.proxy? / self.litellm?),
            Better::Lower if self.floor.is_some() => Some(self.litellm_added()? / self.added()?),
            Better::Lower => Some(self.litellm? / self.proxy?),
        }
    }
}

struct Target {
    what: String,
    value: Option<f64>,
    unit: &'static str,
    limit: f64,
    at_most: bool,
}

impl Target {
    fn verdict(&self) -> &'static str {
        match self.value {
            None => "not measured",
            Some(v) if (self.at_most && v <= self.limit) || (!self.at_most && v >= self.limit) => {
                "met"
            }
            Some(_) => "MISSED",
        }
    }
}

const SIDES: [&str; 4] = ["floor", "nginx", "proxy", "litellm"];

struct Runs {
    dir: PathBuf,
}

impl Runs {
    fn get(&self, name: &str) -> Option<Value> {
        let text = std::fs::read_to_string(self.dir.join(name)).ok()?;
        serde_json::from_str(&text).ok()
    }
    fn num(&self, name: &str, pointer: &str) -> Option<f64> {
        self.get(name)?.pointer(pointer)?.as_f64()
    }
    /// The value for each side: floor, nginx, proxy, litellm.
    fn sides(&self, scenario: &str, pointer: &str) -> [Option<f64>; 4] {
        SIDES.map(|side| self.num(&format!("{scenario}-{side}.json"), pointer))
    }
}

pub fn report(args: &ReportArgs) -> Result<bool, BoxError> {
    let runs = Runs {
        dir: args.dir.clone(),
    };
    let rows = rows(&runs);
    let targets = targets(&runs, &rows);
    let (checks, problems) = correctness(&runs);

    let mut md = String::new();
    for line in &args.meta {
        let (k, v) = line.split_once('=').unwrap_or((line.as_str(), ""));
        let _ = writeln!(md, "- **{k}**: {v}");
    }
    md.push('\n');
    md.push_str(&rows_table(&rows));
    md.push('\n');
    md.push_str(&targets_table(&targets));
    md.push('\n');
    let _ = writeln!(md, "Correctness: {checks}");
    md.push('\n');
    let _ = writeln!(md, "{}", interference(&runs));
    for p in &problems {
        let _ = writeln!(md, "- **FAILED**: {p}");
    }

    let mut all_runs = serde_json::Map::new();
    let mut names: Vec<String> = std::fs::read_dir(&args.dir)?
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .filter(|n| n.ends_with(".json"))
        .collect();
    names.sort();
    for name in names {
        if let Some(v) = runs.get(&name) {
            all_runs.insert(name.trim_end_matches(".json").to_owned(), v);
        }
    }
    let meta: serde_json::Map<String, Value> = args
        .meta
        .iter()
        .map(|l| {
            let (k, v) = l.split_once('=').unwrap_or((l.as_str(), ""));
            (k.to_owned(), Value::String(v.to_owned()))
        })
        .collect();
    let results = json!({
        "meta": meta,
        "rows": rows.iter().map(|r| json!({
            "scenario": r.scenario, "metric": r.metric, "unit": r.unit,
            "floor": r.floor, "nginx": r.nginx, "nginx_added": r.nginx_added(), "proxy": r.proxy, "added": r.added(),
            "proxy_vs_nginx": r.vs_nginx(),
            "litellm": r.litellm, "litellm_added": r.litellm_added(), "proxy_vs_litellm": r.ratio(),
        })).collect::<Vec<_>>(),
        "targets": targets.iter().map(|t| json!({
            "target": t.what, "value": t.value, "unit": t.unit, "limit": t.limit,
            "at_most": t.at_most, "verdict": t.verdict(),
        })).collect::<Vec<_>>(),
        "correctness": {"summary": checks, "failures": problems},
        "runs": all_runs,
    });
    std::fs::write(&args.json_out, serde_json::to_vec_pretty(&results)?)?;
    std::fs::write(&args.md_out, &md)?;
    if let Some(docs) = &args.docs {
        splice_docs(docs, &md)?;
    }
    Ok(problems.is_empty())
}

fn rows(runs: &Runs) -> Vec<Row> {
    let mut rows = Vec::new();
    let lat =
        |rows: &mut Vec<Row>, scenario: &'static str, file: &str, metric: &str, pointer: &str| {
            let [floor, nginx, proxy, litellm] = runs.sides(file, pointer);
            rows.push(Row {
                scenario,
                metric: metric.into(),
                unit: "µs",
                better: Better::Lower,
                floor,
                nginx,
                proxy,
                litellm,
            });
        };
    let s1 = "1. small, non-streaming, c=1";
    lat(&mut rows, s1, "s1", "latency p50", "/total_us/p50");
    lat(&mut rows, s1, "s1", "latency p99", "/total_us/p99");
    cpu(&mut rows, runs, s1, "s1");
    let s2 = "2. Codex body, non-streaming, c=1";
    lat(&mut rows, s2, "s2", "latency p50", "/total_us/p50");
    lat(&mut rows, s2, "s2", "latency p99", "/total_us/p99");
    cpu(&mut rows, runs, s2, "s2");
    let s3 = "3. stream, 30 chunks, c=1";
    lat(&mut rows, s3, "s3", "first byte p50", "/first_byte_us/p50");
    lat(
        &mut rows,
        s3,
        "s3",
        "first delta p50",
        "/first_delta_us/p50",
    );
    lat(
        &mut rows,
        s3,
        "s3",
        "first delta p99",
        "/first_delta_us/p99",
    );
    lat(&mut rows, s3, "s3", "last byte p50", "/total_us/p50");
    lat(&mut rows, s3, "s3", "last byte p99", "/total_us/p99");
    cpu(&mut rows, runs, s3, "s3");
    let s4 = "4. throughput, small, c=64 (wrk)";
    let [floor, nginx, proxy, litellm] =
        SIDES.map(|s| runs.num(&format!("s4-{s}.wrk.json"), "/requests_per_sec"));
    rows.push(Row {
        scenario: s4,
        metric: "requests/s".into(),
        unit: "req/s",
        better: Better::Higher,
        floor,
        nginx,
        proxy,
        litellm,
    });
    let [floor, nginx, proxy, litellm] =
        SIDES.map(|s| runs.num(&format!("s4-{s}.wrk.json"), "/latency_us/p99"));
    rows.push(Row {
        scenario: s4,
        metric: "latency p99".into(),
        unit: "µs",
        better: Better::Lower,
        floor,
        nginx,
        proxy,
        litellm,
    });
    cpu(&mut rows, runs, s4, "s4check");
    for (scenario, file) in [
        ("5. paced stream 64×20 ms, c=100", "s5-c100"),
        ("5. paced stream 64×20 ms, c=1000", "s5-c1000"),
    ] {
        let mut lat =
            |metric: &str, pointer: &str, unit: &'static str, better: Better, with_floor: bool| {
                let [floor, nginx, proxy, litellm] = runs.sides(file, pointer);
                let floor = floor.filter(|_| with_floor);
                rows.push(Row {
                    scenario,
                    metric: metric.into(),
                    unit,
                    better,
                    floor,
                    nginx,
                    proxy,
                    litellm,
                });
            };
        lat(
            "inter-chunk gap p50",
            "/gap_us/p50",
            "µs",
            Better::Lower,
            true,
        );
        lat(
            "inter-chunk gap p99",
            "/gap_us/p99",
            "µs",
            Better::Lower,
            true,
        );
        lat(
            "inter-chunk gap max",
            "/gap_us/max",
            "µs",
            Better::Lower,
            true,
        );
        lat(
            "first delta p99",
            "/first_delta_us/p99",
            "µs",
            Better::Lower,
            true,
        );
        lat("streams completed", "/ok", "streams", Better::Higher, false);
        lat(
            "most streams open at once",
            "/max_open_streams",
            "streams",
            Better::Higher,
            false,
        );
        lat(
            "stalled streams (gap > 250 ms)",
            "/stalled_answers",
            "streams",
            Better::Lower,
            false,
        );
        lat(
            "CPU busy (1.0 = its core)",
            "/cpu/cores_busy",
            "cores",
            Better::Lower,
            false,
        );
    }
    let s6 = "6. memory (RSS), 1,000 open streams";
    let kib_to_mib = |v: Option<f64>| v.map(|k| k / 1024.0);
    let mut mem = |metric: &str, proxy: Option<f64>, litellm: Option<f64>| {
        rows.push(Row {
            scenario: s6,
            metric: metric.into(),
            unit: "MiB",
            better: Better::Lower,
            floor: None,
            nginx: None,
            proxy: kib_to_mib(proxy),
            litellm: kib_to_mib(litellm),
        });
    };
    mem(
        "idle (fresh start)",
        runs.num("rss-idle.json", "/proxy_kib"),
        runs.num("rss-idle.json", "/litellm_kib"),
    );
    for (metric, pointer) in [
        ("before the 1,000 streams", "/rss/before_kib"),
        ("all 1,000 streams open", "/rss/all_open_kib"),
        ("peak", "/rss/peak_kib"),
        ("after they finished", "/rss/after_kib"),
    ] {
        mem(
            metric,
            runs.num("s6-proxy.json", pointer),
            runs.num("s6-litellm.json", pointer),
        );
    }
    let s7 = "7. WebSocket stream, 30 chunks, c=1";
    for (metric, pointer) in [
        ("first delta p50", "/first_delta_us/p50"),
        ("first delta p99", "/first_delta_us/p99"),
        ("last byte p50", "/total_us/p50"),
        ("last byte p99", "/total_us/p99"),
    ] {
        // The floor of a WebSocket response is the same upstream stream, read over HTTP.
        let floor = runs.num("s3-floor.json", pointer);
        let proxy = runs.num("s7-proxy.json", pointer);
        rows.push(Row {
            scenario: s7,
            metric: metric.into(),
            unit: "µs",
            better: Better::Lower,
            floor,
            nginx: None,
            proxy,
            litellm: None,
        });
    }
    cpu(&mut rows, runs, s7, "s7");
    // The Chat Completions ingress on a `chat` backend: a passthrough, so the floor, the nginx hop
    // and the proxy all carry Chat requests and answers.
    let s8 = "8. Chat passthrough, small, non-streaming, c=1";
    lat(&mut rows, s8, "s8-json", "latency p50", "/total_us/p50");
    lat(&mut rows, s8, "s8-json", "latency p99", "/total_us/p99");
    cpu(&mut rows, runs, s8, "s8-json");
    let s8 = "8. Chat passthrough, stream, 30 chunks, c=1";
    for (metric, pointer) in [
        ("first byte p50", "/first_byte_us/p50"),
        ("first delta p50", "/first_delta_us/p50"),
        ("first delta p99", "/first_delta_us/p99"),
        ("last byte p50", "/total_us/p50"),
        ("last byte p99", "/total_us/p99"),
    ] {
        lat(&mut rows, s8, "s8-sse", metric, pointer);
    }
    cpu(&mut rows, runs, s8, "s8-sse");
    rows
}

/// CPU time of the process under test per request (warm-up included; `/proc` resolution 10 ms).
fn cpu(rows: &mut Vec<Row>, runs: &Runs, scenario: &'static str, file: &str) {
    let [_, nginx, proxy, litellm] = runs.sides(file, "/cpu/us_per_request");
    if nginx.is_some() || proxy.is_some() || litellm.is_some() {
        let metric = "CPU time per request".into();
        rows.push(Row {
            scenario,
            metric,
            unit: "µs",
            better: Better::Lower,
            floor: None,
            nginx,
            proxy,
            litellm,
        });
    }
}

fn find<'a>(rows: &'a [Row], scenario_prefix: &str, metric: &str) -> Option<&'a Row> {
    rows.iter()
        .find(|r| r.scenario.starts_with(scenario_prefix) && r.metric == metric)
}

fn targets(runs: &Runs, rows: &[Row]) -> Vec<Target> {
    let added = |s: &str, m: &str| find(rows, s, m).and_then(Row::added);
    let proxy = |s: &str, m: &str| find(rows, s, m).and_then(|r| r.proxy);
    let ratio = |s: &str, m: &str| find(rows, s, m).and_then(Row::ratio);
    let t =
        |what: &str, value: Option<f64>, unit: &'static str, limit: f64, at_most: bool| Target {
            what: what.into(),
            value,
            unit,
            limit,
            at_most,
        };
    // Governance on ÷ off, same binary, same load (unique bodies), two alternated pairs.
    let rps = |side: &str| runs.num(&format!("s4-{side}.wrk.json"), "/requests_per_sec");
    let pairs: Vec<f64> = ["1", "2"]
        .iter()
        .filter_map(|p| Some(rps(&format!("governed{p}"))? / rps(&format!("plain{p}"))?))
        .collect();
    let governance = (!pairs.is_empty()).then(|| pairs.iter().sum::<f64>() / pairs.len() as f64);
    let tpairs: Vec<f64> = ["1", "2"]
        .iter()
        .filter_map(|p| Some(rps(&format!("telemetry{p}"))? / rps(&format!("tplain{p}"))?))
        .collect();
    let telemetry = (!tpairs.is_empty()).then(|| tpairs.iter().sum::<f64>() / tpairs.len() as f64);
    let stalls = runs.num("s5-c1000-proxy.json", "/stalled_answers");
    let incomplete = runs.num("s5-c1000-proxy.json", "/ok").map(|ok| 1000.0 - ok);
    let before = runs.num("s6-proxy.json", "/rss/before_kib");
    let after = runs.num("s6-proxy.json", "/rss/after_kib");
    let regrowth = before.zip(after).map(|(b, a)| (a - b) / b * 100.0);
    vec![
        t(
            "1. added p99, small non-streaming, c=1",
            added("1.", "latency p99"),
            "µs",
            100.0,
            true,
        ),
        t(
            "2. added p99, Codex body, c=1",
            added("2.", "latency p99"),
            "µs",
            250.0,
            true,
        ),
        t(
            "3. added time to first delta p99, streaming",
            added("3.", "first delta p99"),
            "µs",
            150.0,
            true,
        ),
        t(
            "4. throughput at c=64",
            proxy("4.", "requests/s"),
            "req/s",
            20_000.0,
            false,
        ),
        t(
            "4. p99 at c=64",
            proxy("4.", "latency p99"),
            "µs",
            10_000.0,
            true,
        ),
        t(
            "5. stalled streams at c=1,000",
            stalls,
            "streams",
            0.0,
            true,
        ),
        t(
            "5. streams not completed at c=1,000",
            incomplete,
            "streams",
            0.0,
            true,
        ),
        t(
            "5. added inter-chunk gap p99 at c=1,000",
            added("5. paced stream 64×20 ms, c=1000", "inter-chunk gap p99"),
            "µs",
            1000.0,
            true,
        ),
        t(
            "6. RSS idle",
            proxy("6.", "idle (fresh start)"),
            "MiB",
            30.0,
            true,
        ),
        t(
            "6. RSS with 1,000 open streams",
            proxy("6.", "all 1,000 streams open"),
            "MiB",
            100.0,
            true,
        ),
        t("6. RSS after, above before", regrowth, "%", 10.0, true),
        t(
            "4g. throughput with governance on ÷ off (keys, budgets, rate limits, cache misses)",
            governance,
            "×",
            0.85,
            false,
        ),
        t(
            "4t. throughput with traces and metrics on ÷ off (exporter to a dead collector)",
            telemetry,
            "×",
            0.90,
            false,
        ),
        t(
            "peer: throughput vs LiteLLM",
            ratio("4.", "requests/s"),
            "×",
            50.0,
            false,
        ),
        t(
            "peer: added p50 latency vs LiteLLM (small)",
            ratio("1.", "latency p50"),
            "×",
            50.0,
            false,
        ),
        t(
            "peer: added p99 latency vs LiteLLM (small)",
            ratio("1.", "latency p99"),
            "×",
            50.0,
            false,
        ),
    ]
}

/// Sums the checks over every run; floor and proxy failures are problems, LiteLLM's are reported.
fn correctness(runs: &Runs) -> (String, Vec<String>) {
    let mut problems = Vec::new();
    let (mut checked, mut failed, mut peer_notes) = (0.0, 0.0, Vec::new());
    let (mut peer_checked, mut peer_failed) = (0.0, 0.0);
    let Ok(entries) = std::fs::read_dir(&runs.dir) else {
        return ("no run directory".into(), vec!["no run directory".into()]);
    };
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect();
    names.sort();
    for name in names
        .iter()
        .filter(|n| n.ends_with(".json") && n.starts_with('s') && !n.ends_with(".wrk.json"))
    {
        let Some(run) = runs.get(name) else { continue };
        let num = |p: &str| run.pointer(p).and_then(Value::as_f64).unwrap_or(0.0);
        let (c, f, errors) = (num("/checked"), num("/check_failures"), num("/errors"));
        let peer = name.contains("litellm");
        if peer {
            peer_checked += c;
            peer_failed += f;
        } else {
            checked += c;
            failed += f;
        }
        let samples = run
            .pointer("/check_failure_samples")
            .map(Value::to_string)
            .unwrap_or_default();
        let error_samples = run
            .pointer("/error_samples")
            .map(Value::to_string)
            .unwrap_or_default();
        if f > 0.0 || errors > 0.0 {
            let note = format!("{name}: {f} wrong answers of {c} checked {samples}; {errors} failed requests {error_samples}");
            if peer {
                peer_notes.push(note);
            } else {
                problems.push(note);
            }
        }
        if c == 0.0 && !peer {
            problems.push(format!("{name}: no answer was checked"));
        }
    }
    for name in names
        .iter()
        .filter(|n| n.ends_with(".wrk.json") && !n.contains("litellm"))
    {
        let errors = runs.num(name, "/errors/status").unwrap_or(0.0)
            + runs.num(name, "/errors/timeout").unwrap_or(0.0);
        if errors > 0.0 {
            problems.push(format!(
                "{name}: {errors} non-2xx or timed-out responses under wrk"
            ));
        }
    }
    let mut summary = format!(
        "{checked} answers of the floor, the nginx hop and the proxy parsed and compared with the \
         canned text: {failed} wrong."
    );
    if peer_checked > 0.0 {
        let _ = write!(
            summary,
            " LiteLLM: {peer_checked} checked, {peer_failed} wrong."
        );
    }
    for note in &peer_notes {
        let _ = write!(summary, "\n- LiteLLM {note}");
    }
    (summary, problems)
}

/// Names the runs during which other work used the measured core (over 5 % of the run) or the
/// hypervisor stole time from it: their latency percentiles include that interference.
fn interference(runs: &Runs) -> String {
    let Ok(entries) = std::fs::read_dir(&runs.dir) else {
        return String::new();
    };
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect();
    names.sort();
    let mut noisy = Vec::new();
    let mut quiet = 0;
    for name in names
        .iter()
        .filter(|n| n.ends_with(".json") && !n.ends_with(".wrk.json"))
    {
        let other = runs.num(name, "/core/other_busy");
        let steal = runs.num(name, "/core/steal").unwrap_or(0.0);
        match other {
            Some(o) if o > 0.05 || steal > 0.05 => noisy.push(format!(
                "{} ({:.0} % other work, {:.0} % stolen)",
                name.trim_end_matches(".json"),
                o * 100.0,
                steal * 100.0
            )),
            Some(_) => quiet += 1,
            None => {}
        }
    }
    if noisy.is_empty() {
        format!("Interference: none of the {quiet} runs on the measured core saw other work above 5 % of the core.")
    } else {
        format!(
            "Interference: in these runs other processes used the measured core (or the hypervisor stole it), \
             so their tails are not the proxy's alone: {}. {quiet} runs were quiet.",
            noisy.join(", ")
        )
    }
}

fn fmt(v: Option<f64>, unit: &str) -> String {
    match v {
        None => "—".into(),
        Some(v) if unit == "streams" => format!("{v:.0}"),
        Some(v) if unit == "cores" => format!("{v:.2}"),
        Some(v) if v.abs() >= 1000.0 => format!("{v:.0}"),
        Some(v) if v.abs() >= 10.0 => format!("{v:.1}"),
        Some(v) => format!("{v:.2}"),
    }
}

fn fmt_ratio(r: &Row) -> String {
    let with_floor = r.better == Better::Lower && r.floor.is_some();
    match (with_floor, r.added(), r.litellm_added(), r.ratio()) {
        // A ratio of two differences means something only when both sides add time.
        (true, _, Some(l), _) if l <= 0.0 => "—".into(),
        (true, Some(a), Some(_), _) if a <= 0.0 => "∞ (proxy adds nothing measurable)".into(),
        (_, _, _, Some(x)) if x.is_finite() && x > 0.0 => format!("{x:.1}×"),
        _ => "—".into(),
    }
}

fn rows_table(rows: &[Row]) -> String {
    let mut md = String::from(
        "| Scenario | Metric | Floor (mock direct) | nginx hop (added) | Proxy | Proxy added | Proxy ÷ nginx | LiteLLM | LiteLLM added | Proxy vs LiteLLM |\n\
         |---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for r in rows {
        let unit = if r.unit == "streams" { "" } else { r.unit };
        let cell = |v: Option<f64>| match v {
            Some(_) if unit.is_empty() => fmt(v, r.unit),
            Some(_) => format!("{} {unit}", fmt(v, r.unit)),
            None => "—".into(),
        };
        let shows_added = r.floor.is_some() && r.better == Better::Lower && r.unit == "µs";
        let added = |v: Option<f64>| if shows_added { cell(v) } else { String::new() };
        let nginx = match (r.nginx, shows_added) {
            (Some(_), true) => {
                let sign = if r.nginx_added().is_some_and(|a| a >= 0.0) {
                    "+"
                } else {
                    ""
                };
                format!("{} ({sign}{})", cell(r.nginx), added(r.nginx_added()))
            }
            _ => cell(r.nginx),
        };
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            r.scenario,
            r.metric,
            cell(r.floor),
            nginx,
            cell(r.proxy),
            added(r.added()),
            r.vs_nginx().map_or("—".into(), |x| format!("{x:.1}×")),
            cell(r.litellm),
            if r.litellm.is_some() {
                added(r.litellm_added())
            } else {
                String::new()
            },
            if r.litellm.is_some() {
                fmt_ratio(r)
            } else {
                "—".into()
            },
        );
    }
    md
}

fn targets_table(targets: &[Target]) -> String {
    let mut md = String::from("| Target | Measured | Limit | Verdict |\n|---|---:|---:|---|\n");
    for t in targets {
        let limit = format!(
            "{} {} {}",
            if t.at_most { "≤" } else { "≥" },
            fmt(Some(t.limit), t.unit),
            t.unit
        );
        let measured = t.value.map_or("not measured".into(), |v| {
            format!("{} {}", fmt(Some(v), t.unit), t.unit)
        });
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} |",
            t.what,
            measured,
            limit,
            t.verdict()
        );
    }
    md
}

fn splice_docs(docs: &Path, table: &str) -> Result<(), BoxError> {
    const BEGIN: &str = "<!-- bench:begin -->";
    const END: &str = "<!-- bench:end -->";
    let text = std::fs::read_to_string(docs).map_err(|e| format!("{}: {e}", docs.display()))?;
    let (Some(b), Some(e)) = (text.find(BEGIN), text.find(END)) else {
        return Err(format!(
            "{}: no {BEGIN} … {END} block to put the table in",
            docs.display()
        )
        .into());
    };
    if e < b {
        return Err(format!("{}: {END} comes before {BEGIN}", docs.display()).into());
    }
    let spliced = format!("{}{BEGIN}\n{table}{}", &text[..b], &text[e..]);
    std::fs::write(docs, spliced)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(floor: Option<f64>, proxy: Option<f64>, litellm: Option<f64>, better: Better) -> Row {
        Row {
            scenario: "x",
            metric: "m".into(),
            unit: "µs",
            better,
            floor,
            nginx: None,
            proxy,
            litellm,
        }
    }

    #[test]
    fn added_and_ratios() {
        let r = row(Some(50.0), Some(60.0), Some(1050.0), Better::Lower);
        assert_eq!(r.added(), Some(10.0));
        assert_eq!(r.litellm_added(), Some(1000.0));
        assert_eq!(r.ratio(), Some(100.0));
        let t = row(None, Some(20000.0), Some(400.0), Better::Higher);
        assert_eq!(t.ratio(), Some(50.0));
        assert_eq!(row(Some(1.0), None, None, Better::Lower).added(), None);
    }

    #[test]
    fn proxy_over_nginx() {
        let mut r = row(Some(50.0), Some(250.0), None, Better::Lower);
        r.nginx = Some(100.0);
        // (250 − 50) / (100 − 50)
        assert_eq!(r.vs_nginx(), Some(4.0));
        // CPU rows have no floor: CPU over CPU.
        let mut cpu = row(None, Some(90.0), None, Better::Lower);
        cpu.nginx = Some(30.0);
        assert_eq!(cpu.vs_nginx(), Some(3.0));
        // nginx below the floor (a gap): no ratio.
        r.nginx = Some(40.0);
        assert_eq!(r.vs_nginx(), None);
        r.nginx = None;
        assert_eq!(r.vs_nginx(), None);
        let mut rps = row(Some(1.0), Some(2.0), None, Better::Higher);
        rps.nginx = Some(3.0);
        assert_eq!(rps.vs_nginx(), None);
    }

    #[test]
    fn ratio_cells() {
        assert_eq!(
            fmt_ratio(&row(Some(50.0), Some(60.0), Some(1050.0), Better::Lower)),
            "100.0×"
        );
        // LiteLLM below the floor (bursty gaps): no meaningful ratio.
        assert_eq!(
            fmt_ratio(&row(Some(50.0), Some(60.0), Some(40.0), Better::Lower)),
            "—"
        );
        assert!(
            fmt_ratio(&row(Some(50.0), Some(49.0), Some(90.0), Better::Lower)).starts_with('∞')
        );
        assert_eq!(
            fmt_ratio(&row(None, Some(0.0), Some(36.0), Better::Lower)),
            "—"
        );
        assert_eq!(
            fmt_ratio(&row(None, Some(100.0), Some(2.0), Better::Higher)),
            "50.0×"
        );
    }

    #[test]
    fn verdicts() {
        let t = |value, at_most| Target {
            what: "t".into(),
            value,
            unit: "µs",
            limit: 100.0,
            at_most,
        };
        assert_eq!(t(Some(100.0), true).verdict(), "met");
        assert_eq!(t(Some(101.0), true).verdict(), "MISSED");
        assert_eq!(t(Some(99.0), false).verdict(), "MISSED");
        assert_eq!(t(None, true).verdict(), "not measured");
    }

    #[test]
    fn splices_between_markers() -> Result<(), BoxError> {
        let path = std::env::temp_dir().join(format!("bench-docs-{}.md", std::process::id()));
        std::fs::write(
            &path,
            "intro\n<!-- bench:begin -->\nold\n<!-- bench:end -->\ntail\n",
        )?;
        splice_docs(&path, "new\n")?;
        assert_eq!(
            std::fs::read_to_string(&path)?,
            "intro\n<!-- bench:begin -->\nnew\n<!-- bench:end -->\ntail\n"
        );
        std::fs::remove_file(&path)?;
        Ok(())
    }
}
