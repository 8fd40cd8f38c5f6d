//! One measured load run: `concurrency` workers, each on its own keep-alive connection, send
//! the same body `requests / concurrency` times (after an unmeasured warm-up) and time each
//! answer: response head, first body byte, first content delta, every gap between content
//! deltas, and the end of the answer.
//!
//! Timing stops at the end of each answer; sampled answers are kept and checked only after all
//! workers finish, so checking never delays a measurement. With `--pid`, the resident set of the
//! measured processes is read before, during (peak, every 20 ms) and when every worker has a
//! stream open at once, and again after a settle time; their CPU time is read before and after.

use std::error::Error;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::{SinkExt as _, StreamExt as _};
use http_body_util::{BodyExt as _, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{HeaderName, HeaderValue, ACCEPT, CONTENT_TYPE, HOST};
use hyper::{Request, Uri};
use hyper_util::rt::TokioIo;
use serde::Serialize;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use crate::check::{check_answer, Kind, SseSplitter};
use crate::stats::{core_times, cpu_times, rss_kib, summarize, CpuTimes, Summary};

pub type BoxError = Box<dyn Error + Send + Sync>;

/// What to run, as given on the command line.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Name of the run in the output.
    #[arg(long)]
    pub label: String,
    /// `http://host:port/path` (or `ws://…` for `--kind responses-ws`).
    #[arg(long)]
    pub target: String,
    /// File whose bytes are sent as the request body (or WebSocket frame).
    #[arg(long)]
    pub body: std::path::PathBuf,
    #[arg(long, value_enum)]
    pub kind: Kind,
    /// Extra request header, `name: value` (repeatable).
    #[arg(long = "header")]
    pub headers: Vec<String>,
    #[arg(long, default_value_t = 1)]
    pub concurrency: usize,
    /// Measured requests in total (split evenly over the workers).
    #[arg(long, default_value_t = 1000)]
    pub requests: usize,
    /// Unmeasured requests before the measured ones (split evenly over the workers).
    #[arg(long, default_value_t = 0)]
    pub warmup: usize,
    /// Content chunks the upstream sends; the expected text is the mock's canned text for it.
    #[arg(long, default_value_t = bench_upstream::DEFAULT_CHUNKS)]
    pub expect_chunks: u32,
    /// Keep and check every Nth measured answer of each worker.
    #[arg(long, default_value_t = 1)]
    pub check_every: usize,
    /// Check at most this many answers in total.
    #[arg(long, default_value_t = 2000)]
    pub max_checks: usize,
    /// A gap between content deltas longer than this counts as a stall.
    #[arg(long, default_value_t = 250)]
    pub stall_ms: u64,
    /// Spread the workers' starts over this many milliseconds.
    #[arg(long, default_value_t = 0)]
    pub ramp_ms: u64,
    /// Start no new request after this many seconds from the start of the run (warm-up included).
    #[arg(long)]
    pub max_secs: Option<u64>,
    /// Give up on one answer after this many seconds.
    #[arg(long, default_value_t = 60)]
    pub timeout_secs: u64,
    /// Processes whose summed RSS and CPU time to record: the proxy or peer under test (repeatable).
    #[arg(long = "pid")]
    pub pids: Vec<u32>,
    /// The CPU the process under test is pinned to: the run records how busy it was with other
    /// work (anything but `--pid`) and how much time the hypervisor stole from it.
    #[arg(long)]
    pub core: Option<usize>,
    /// Wait this long after the run before the last RSS reading.
    #[arg(long, default_value_t = 2000)]
    pub settle_ms: u64,
    /// Also write the JSON report here.
    #[arg(long)]
    pub out: Option<std::path::PathBuf>,
}

/// The result of one run, as written to JSON.
#[derive(Debug, Serialize)]
pub struct RunReport {
    pub label: String,
    pub kind: Kind,
    pub target: String,
    pub body_bytes: usize,
    pub concurrency: usize,
    pub requests: usize,
    /// True when `--max-secs` ended the run before every planned request was sent.
    pub cut_short_by_max_secs: bool,
    pub ok: usize,
    pub errors: usize,
    pub error_samples: Vec<String>,
    pub elapsed_secs: f64,
    pub requests_per_sec: f64,
    /// Request sent → end of the answer.
    pub total_us: Summary,
    /// Request sent → response head.
    pub head_us: Summary,
    /// Request sent → first body byte.
    pub first_byte_us: Summary,
    /// Request sent → first content delta (streaming kinds only).
    pub first_delta_us: Summary,
    /// Gaps between consecutive content deltas of one answer (streaming kinds only).
    pub gap_us: Summary,
    /// Answers with at least one gap above `stall_ms`.
    pub stalled_answers: usize,
    pub stall_ms: u64,
    /// Most answers streaming (first delta seen, end not yet) at the same moment.
    pub max_open_streams: usize,
    pub checked: usize,
    pub check_failures: usize,
    pub check_failure_samples: Vec<String>,
    pub rss: Option<RssReport>,
    pub cpu: Option<CpuReport>,
    pub core: Option<CoreReport>,
}

/// CPU time the measured processes used during the run (warm-up included).
#[derive(Debug, Serialize)]
pub struct CpuReport {
    pub secs: f64,
    /// `secs` over the wall-clock time of the run: 1.0 is one core fully busy.
    pub cores_busy: f64,
    /// `secs` over the requests sent (warm-up included), in microseconds.
    pub us_per_request: f64,
    /// The part of `secs` spent in the kernel (system calls, network stack).
    pub system_share: f64,
}

/// What else ran on the measured core during the run; high values mean noisy numbers.
#[derive(Debug, Serialize)]
pub struct CoreReport {
    pub core: usize,
    /// Busy time of the core not spent in `--pid` (other processes, interrupts), over the run's
    /// wall-clock time: 0.0 = nothing else ran, 1.0 = something else kept it busy throughout.
    pub other_busy: Option<f64>,
    /// Stolen time over wall-clock time.
    pub steal: f64,
}

/// Resident set readings, KiB.
#[derive(Debug, Serialize, Default)]
pub struct RssReport {
    pub before_kib: Option<u64>,
    pub peak_kib: Option<u64>,
    /// When every worker had a stream open at once (only if that happened).
    pub all_open_kib: Option<u64>,
    pub after_kib: Option<u64>,
    pub settle_ms: u64,
}

struct Config {
    kind: Kind,
    target: Uri,
    host: HeaderValue,
    path: String,
    body: Bytes,
    headers: Vec<(HeaderName, HeaderValue)>,
    timeout: Duration,
    check_every: usize,
    checks_per_worker: usize,
    concurrency: usize,
    rss_pids: Vec<u32>,
    stall_ns: u64,
    deadline: Option<Instant>,
}

#[derive(Default)]
struct Shared {
    open_streams: AtomicUsize,
    max_open_streams: AtomicUsize,
    all_open_kib: Mutex<Option<u64>>,
    all_open_seen: AtomicBool,
    peak_kib: AtomicU64,
}

#[derive(Default)]
struct WorkerResult {
    total: Vec<u64>,
    head: Vec<u64>,
    first_byte: Vec<u64>,
    first_delta: Vec<u64>,
    gaps: Vec<u64>,
    stalled: usize,
    ok: usize,
    errors: usize,
    warmed_up: usize,
    error_samples: Vec<String>,
    kept: Vec<Vec<u8>>,
}

/// Timings of one answer, nanoseconds from sending the request.
struct Answer {
    head: u64,
    first_byte: Option<u64>,
    deltas: Vec<u64>,
    total: u64,
    body: Option<Vec<u8>>,
}

enum Conn {
    Http(SendRequest<Full<Bytes>>),
    Ws(Box<WebSocketStream<TcpStream>>),
}

pub async fn run(args: RunArgs) -> Result<RunReport, BoxError> {
    let target: Uri = args
        .target
        .parse()
        .map_err(|e| format!("--target {}: {e}", args.target))?;
    let authority = target
        .authority()
        .ok_or("--target needs host:port")?
        .clone();
    let body = Bytes::from(
        std::fs::read(&args.body).map_err(|e| format!("--body {}: {e}", args.body.display()))?,
    );
    let mut headers = Vec::new();
    for h in &args.headers {
        let (name, value) = h
            .split_once(':')
            .ok_or_else(|| format!("--header {h:?}: expected `name: value`"))?;
        headers.push((
            HeaderName::from_bytes(name.trim().as_bytes())?,
            HeaderValue::from_str(value.trim())?,
        ));
    }
    let concurrency = args.concurrency.max(1);
    let config = Arc::new(Config {
        kind: args.kind,
        host: HeaderValue::from_str(authority.as_str())?,
        path: target
            .path_and_query()
            .map_or("/".to_owned(), |p| p.as_str().to_owned()),
        target,
        body,
        headers,
        timeout: Duration::from_secs(args.timeout_secs),
        check_every: args.check_every.max(1),
        checks_per_worker: (args.max_checks / concurrency).max(1),
        concurrency,
        rss_pids: args.pids.clone(),
        stall_ns: args.stall_ms.saturating_mul(1_000_000),
        deadline: args
            .max_secs
            .map(|s| Instant::now() + Duration::from_secs(s)),
    });
    let shared = Arc::new(Shared::default());
    let rss_before = (!args.pids.is_empty())
        .then(|| rss_kib(&args.pids))
        .flatten();
    let cpu_before = (!args.pids.is_empty())
        .then(|| cpu_times(&args.pids))
        .flatten();
    let core_before = args.core.and_then(core_times);
    let sampler = (!args.pids.is_empty()).then(|| {
        let (pids, shared) = (args.pids.clone(), shared.clone());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(20));
            loop {
                tick.tick().await;
                if let Some(kib) = rss_kib(&pids) {
                    shared.peak_kib.fetch_max(kib, Ordering::Relaxed);
                }
            }
        })
    });

    let started = Instant::now();
    let mut handles = Vec::with_capacity(concurrency);
    for id in 0..concurrency {
        let share = |total: usize| total / concurrency + usize::from(id < total % concurrency);
        let (quota, warmup) = (share(args.requests), share(args.warmup));
        let delay = Duration::from_millis(args.ramp_ms) * u32::try_from(id).unwrap_or(u32::MAX)
            / u32::try_from(concurrency).unwrap_or(1);
        let (config, shared) = (config.clone(), shared.clone());
        handles.push(tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            worker(config, shared, warmup, quota).await
        }));
    }
    let mut all = WorkerResult::default();
    for handle in handles {
        let r = handle.await?;
        all.total.extend(r.total);
        all.head.extend(r.head);
        all.first_byte.extend(r.first_byte);
        all.first_delta.extend(r.first_delta);
        all.gaps.extend(r.gaps);
        all.stalled += r.stalled;
        all.ok += r.ok;
        all.errors += r.errors;
        all.warmed_up += r.warmed_up;
        if all.error_samples.len() < 5 {
            all.error_samples
                .extend(r.error_samples.into_iter().take(5));
        }
        all.kept.extend(r.kept);
    }
    let elapsed = started.elapsed().as_secs_f64();
    let cpu_after = (!args.pids.is_empty())
        .then(|| cpu_times(&args.pids))
        .flatten();
    let core_after = args.core.and_then(core_times);
    if let Some(sampler) = sampler {
        tokio::time::sleep(Duration::from_millis(args.settle_ms)).await;
        sampler.abort();
    }

    let expected = bench_upstream::canned_text(args.expect_chunks);
    let mut check_failure_samples = Vec::new();
    let mut check_failures = 0;
    for body in &all.kept {
        if let Err(e) = check_answer(args.kind, body, &expected) {
            check_failures += 1;
            if check_failure_samples.len() < 5 {
                check_failure_samples.push(e);
            }
        }
    }
    let sent = all.ok + all.errors + all.warmed_up;
    let cpu = cpu_before
        .zip(cpu_after)
        .map(|(before, after): (CpuTimes, CpuTimes)| {
            let secs = after.total() - before.total();
            let system = after.system - before.system;
            CpuReport {
                secs,
                cores_busy: if elapsed > 0.0 { secs / elapsed } else { 0.0 },
                us_per_request: if sent > 0 {
                    secs * 1e6 / sent as f64
                } else {
                    0.0
                },
                system_share: if secs > 0.0 { system / secs } else { 0.0 },
            }
        });
    let core = args
        .core
        .zip(core_before.zip(core_after))
        .map(|(core, (before, after))| {
            let busy = after.busy - before.busy;
            let own = cpu_before
                .zip(cpu_after)
                .map(|(b, a)| a.total() - b.total());
            let per_sec = |v: f64| if elapsed > 0.0 { v / elapsed } else { 0.0 };
            CoreReport {
                core,
                other_busy: own.map(|own| per_sec((busy - own).max(0.0))),
                steal: per_sec(after.steal - before.steal),
            }
        });
    let rss = (!args.pids.is_empty()).then(|| RssReport {
        before_kib: rss_before,
        peak_kib: Some(shared.peak_kib.load(Ordering::Relaxed)).filter(|&k| k > 0),
        all_open_kib: *shared
            .all_open_kib
            .lock()
            .unwrap_or_else(PoisonError::into_inner),
        after_kib: rss_kib(&args.pids),
        settle_ms: args.settle_ms,
    });
    Ok(RunReport {
        label: args.label,
        kind: args.kind,
        target: args.target,
        body_bytes: config.body.len(),
        concurrency,
        requests: args.requests,
        cut_short_by_max_secs: all.ok + all.errors < args.requests,
        ok: all.ok,
        errors: all.errors,
        error_samples: all.error_samples,
        elapsed_secs: elapsed,
        requests_per_sec: if elapsed > 0.0 {
            (all.ok + all.errors) as f64 / elapsed
        } else {
            0.0
        },
        total_us: summarize(&mut all.total),
        head_us: summarize(&mut all.head),
        first_byte_us: summarize(&mut all.first_byte),
        first_delta_us: summarize(&mut all.first_delta),
        gap_us: summarize(&mut all.gaps),
        stalled_answers: all.stalled,
        stall_ms: args.stall_ms,
        max_open_streams: shared.max_open_streams.load(Ordering::Relaxed),
        checked: all.kept.len(),
        check_failures,
        check_failure_samples,
        rss,
        cpu,
        core,
    })
}

async fn worker(
    config: Arc<Config>,
    shared: Arc<Shared>,
    warmup: usize,
    quota: usize,
) -> WorkerResult {
    let mut result = WorkerResult::default();
    let mut conn: Option<Conn> = None;
    for n in 0..warmup + quota {
        if config.deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
        let measured = n >= warmup;
        let index = n.saturating_sub(warmup);
        let keep = measured
            && index % config.check_every == 0
            && result.kept.len() < config.checks_per_worker;
        let outcome = async {
            if conn.is_none() {
                conn = Some(connect(&config).await?);
            }
            let c = conn.as_mut().ok_or("no connection")?;
            tokio::time::timeout(config.timeout, one_answer(&config, &shared, c, keep))
                .await
                .map_err(|_| format!("no complete answer within {:?}", config.timeout))?
        }
        .await;
        match outcome {
            Ok(answer) if measured => record(&mut result, answer, config.stall_ns),
            Ok(_) => result.warmed_up += 1,
            Err(e) => {
                conn = None;
                if measured {
                    result.errors += 1;
                    if result.error_samples.len() < 2 {
                        result.error_samples.push(e.to_string());
                    }
                }
            }
        }
    }
    result
}

fn record(result: &mut WorkerResult, answer: Answer, stall_ns: u64) {
    result.ok += 1;
    result.total.push(answer.total);
    result.head.push(answer.head);
    if let Some(fb) = answer.first_byte {
        result.first_byte.push(fb);
    }
    if let Some(&first) = answer.deltas.first() {
        result.first_delta.push(first);
    }
    let gaps_before = result.gaps.len();
    result
        .gaps
        .extend(answer.deltas.windows(2).map(|w| w[1].saturating_sub(w[0])));
    if result.gaps[gaps_before..].iter().any(|&g| g > stall_ns) {
        result.stalled += 1;
    }
    if let Some(body) = answer.body {
        result.kept.push(body);
    }
}

async fn connect(config: &Config) -> Result<Conn, BoxError> {
    let authority = config
        .target
        .authority()
        .ok_or("target without authority")?;
    let tcp = TcpStream::connect(authority.as_str()).await?;
    tcp.set_nodelay(true)?;
    if config.kind == Kind::ResponsesWs {
        let (ws, _) = tokio_tungstenite::client_async(config.target.to_string(), tcp).await?;
        return Ok(Conn::Ws(Box::new(ws)));
    }
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await?;
    tokio::spawn(async move {
        // Ends when the sender is dropped or the server closes; errors surface on the sender.
        let _ = connection.await;
    });
    Ok(Conn::Http(sender))
}

async fn one_answer(
    config: &Config,
    shared: &Shared,
    conn: &mut Conn,
    keep: bool,
) -> Result<Answer, BoxError> {
    match conn {
        Conn::Http(sender) => http_answer(config, shared, sender, keep).await,
        Conn::Ws(ws) => ws_answer(config, shared, ws, keep).await,
    }
}

async fn http_answer(
    config: &Config,
    shared: &Shared,
    sender: &mut SendRequest<Full<Bytes>>,
    keep: bool,
) -> Result<Answer, BoxError> {
    let accept = if config.kind.is_streaming() {
        "text/event-stream"
    } else {
        "application/json"
    };
    let mut builder = Request::post(config.path.as_str())
        .header(HOST, config.host.clone())
        .header(CONTENT_TYPE, "application/json")
        .header(ACCEPT, accept);
    for (name, value) in &config.headers {
        builder = builder.header(name, value);
    }
    let request = builder.body(Full::new(config.body.clone()))?;
    sender.ready().await?;
    let t0 = Instant::now();
    let response = sender.send_request(request).await?;
    let head = elapsed_ns(t0);
    let status = response.status();
    let mut body = response.into_body();
    let mut answer = Answer {
        head,
        first_byte: None,
        deltas: Vec::new(),
        total: 0,
        body: keep.then(Vec::new),
    };
    let mut splitter = SseSplitter::default();
    let mut open = OpenStream::new(shared, config);
    let mut error_body = Vec::new();
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame?.into_data() else {
            continue;
        };
        let now = elapsed_ns(t0);
        answer.first_byte.get_or_insert(now);
        if !status.is_success() {
            error_body.extend_from_slice(&data);
            continue;
        }
        if config.kind.is_streaming() {
            let kind = config.kind;
            splitter.push(&data, |event| {
                if kind.is_content(event) {
                    answer.deltas.push(now);
                }
            });
            if !answer.deltas.is_empty() {
                open.opened();
            }
        }
        if let Some(kept) = answer.body.as_mut() {
            kept.extend_from_slice(&data);
        }
    }
    answer.total = elapsed_ns(t0);
    if !status.is_success() {
        let text = String::from_utf8_lossy(&error_body);
        return Err(format!(
            "HTTP {status}: {}",
            text.chars().take(300).collect::<String>()
        )
        .into());
    }
    Ok(answer)
}

async fn ws_answer(
    config: &Config,
    shared: &Shared,
    ws: &mut WebSocketStream<TcpStream>,
    keep: bool,
) -> Result<Answer, BoxError> {
    let text = std::str::from_utf8(&config.body)?.to_owned();
    let t0 = Instant::now();
    ws.send(Message::text(text)).await?;
    let mut answer = Answer {
        head: 0,
        first_byte: None,
        deltas: Vec::new(),
        total: 0,
        body: keep.then(Vec::new),
    };
    let mut open = OpenStream::new(shared, config);
    loop {
        let msg = ws
            .next()
            .await
            .ok_or("WebSocket closed before the response ended")??;
        let Message::Text(event) = msg else { continue };
        let now = elapsed_ns(t0);
        answer.first_byte.get_or_insert(now);
        let bytes = event.as_bytes();
        if Kind::ResponsesWs.is_content(bytes) {
            answer.deltas.push(now);
            open.opened();
        }
        if let Some(kept) = answer.body.as_mut() {
            kept.extend_from_slice(b"data: ");
            kept.extend_from_slice(bytes);
            kept.extend_from_slice(b"\n\n");
        }
        if Kind::is_terminal_ws_event(bytes) {
            break;
        }
    }
    answer.total = elapsed_ns(t0);
    Ok(answer)
}

/// Tracks how many answers are streaming at once; reads RSS the first time all workers are.
struct OpenStream<'a> {
    shared: &'a Shared,
    config: &'a Config,
    counted: bool,
}

impl<'a> OpenStream<'a> {
    fn new(shared: &'a Shared, config: &'a Config) -> Self {
        OpenStream {
            shared,
            config,
            counted: false,
        }
    }

    fn opened(&mut self) {
        if self.counted {
            return;
        }
        self.counted = true;
        let open = self.shared.open_streams.fetch_add(1, Ordering::Relaxed) + 1;
        self.shared
            .max_open_streams
            .fetch_max(open, Ordering::Relaxed);
        let all = open == self.config.concurrency && self.config.concurrency > 1;
        if all
            && !self.config.rss_pids.is_empty()
            && !self.shared.all_open_seen.swap(true, Ordering::Relaxed)
        {
            let kib = rss_kib(&self.config.rss_pids);
            *self
                .shared
                .all_open_kib
                .lock()
                .unwrap_or_else(PoisonError::into_inner) = kib;
        }
    }
}

impl Drop for OpenStream<'_> {
    fn drop(&mut self) {
        if self.counted {
            self.shared.open_streams.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

fn elapsed_ns(t0: Instant) -> u64 {
    u64::try_from(t0.elapsed().as_nanos()).unwrap_or(u64::MAX)
}
