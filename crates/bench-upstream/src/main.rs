//! `bench-upstream`: a minimal, fast mock Chat Completions server for the benchmarks.
//!
//! `POST …/chat/completions` answers the canned text of [`bench_upstream`]: one JSON
//! `chat.completion` when the body does not ask for a stream, else an SSE stream of N content
//! chunks, a finish chunk, a usage chunk and `[DONE]`. N and the pacing between chunks come from
//! (last wins) the command line, `chunks-N` / `pace-M` path segments (so a proxy backend URL can
//! select them) and the `x-bench-chunks` / `x-bench-pace-ms` headers.
//!
//! It is built to cost as little as possible per request: raw hyper HTTP/1, a single-threaded
//! runtime by default, answers pre-rendered once per chunk count, and the body read only to find
//! `"stream": true`. `GET /health` answers `ok`; `GET /stats` counts answers, streams and accepted
//! connections, so a run can check that the proxy called the upstream once per request and
//! reused its connections. With `--capture-dir`, the body
//! of a request whose path has a `capture` segment is written to `<dir>/last-request.json`, which
//! lets the benchmark replay exactly what the proxy sends upstream when it measures the floor.

use std::collections::HashMap;
use std::convert::Infallible;
use std::error::Error;
use std::future::Future as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use bench_upstream::{Canned, Shape, DEFAULT_CHUNKS};
use bytes::Bytes;
use clap::Parser;
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt as _;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::time::{Instant, Sleep};

#[derive(Parser, Debug)]
#[command(
    name = "bench-upstream",
    about = "Fast mock Chat Completions upstream for the benchmarks"
)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:18301")]
    listen: SocketAddr,
    /// Content chunks per streamed answer (and words in a JSON answer) unless the path or a header says otherwise.
    #[arg(long, default_value_t = DEFAULT_CHUNKS)]
    chunks: u32,
    /// Milliseconds between streamed chunks unless the path or a header says otherwise (0 = as fast as possible).
    #[arg(long, default_value_t = 0)]
    pace_ms: u64,
    /// Runtime worker threads; 1 runs everything on the current thread.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Where to write the body of requests whose path has a `capture` segment.
    #[arg(long)]
    capture_dir: Option<PathBuf>,
}

struct State {
    base: Shape,
    canned: Mutex<HashMap<u32, Arc<Canned>>>,
    capture_dir: Option<PathBuf>,
    answers: AtomicU64,
    streams: AtomicU64,
    connections: AtomicU64,
}

impl State {
    fn canned(&self, chunks: u32) -> Arc<Canned> {
        let mut map = self.canned.lock().unwrap_or_else(PoisonError::into_inner);
        map.entry(chunks)
            .or_insert_with(|| Arc::new(Canned::new(chunks)))
            .clone()
    }
}

fn main() -> Result<(), Box<dyn Error>> {
    let args = Args::parse();
    let runtime = if args.threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(args.threads)
            .enable_all()
            .build()?
    };
    runtime.block_on(serve(args))
}

async fn serve(args: Args) -> Result<(), Box<dyn Error>> {
    let base = Shape {
        chunks: args.chunks.min(bench_upstream::MAX_CHUNKS),
        pace_ms: args.pace_ms,
    };
    let state = Arc::new(State {
        base,
        canned: Mutex::new(HashMap::new()),
        capture_dir: args.capture_dir,
        answers: AtomicU64::new(0),
        streams: AtomicU64::new(0),
        connections: AtomicU64::new(0),
    });
    state.canned(base.chunks);
    let socket = if args.listen.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(args.listen)?;
    let listener = socket.listen(4096)?;
    eprintln!(
        "bench-upstream listening on {} (default {} chunks, pace {} ms)",
        listener.local_addr()?,
        base.chunks,
        base.pace_ms
    );
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                eprintln!("bench-upstream: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        // Without it, small answers wait for the peer's delayed ACK (Nagle).
        if let Err(e) = stream.set_nodelay(true) {
            eprintln!("bench-upstream: set_nodelay failed: {e}");
        }
        state.connections.fetch_add(1, Ordering::Relaxed);
        let state = state.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| handle(req, state.clone()));
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service);
            // A client closing mid-answer is normal under load; nothing to report.
            let _ = conn.await;
        });
    }
}

async fn handle(req: Request<Incoming>, state: Arc<State>) -> Result<Response<Answer>, Infallible> {
    let path = req.uri().path();
    if req.method() == Method::GET {
        return Ok(match path {
            "/health" => text(StatusCode::OK, "ok\n".into()),
            "/stats" => text(
                StatusCode::OK,
                format!(
                    "{{\"answers\":{},\"streams\":{},\"connections\":{}}}\n",
                    state.answers.load(Ordering::Relaxed),
                    state.streams.load(Ordering::Relaxed),
                    state.connections.load(Ordering::Relaxed)
                ),
            ),
            _ => text(StatusCode::NOT_FOUND, "not found\n".into()),
        });
    }
    if req.method() != Method::POST || !path.trim_end_matches('/').ends_with("/chat/completions") {
        return Ok(text(
            StatusCode::NOT_FOUND,
            "bench-upstream serves POST …/chat/completions only\n".into(),
        ));
    }
    let shape = Shape::from_path(state.base, path).with_headers(
        req.headers()
            .get("x-bench-chunks")
            .map(HeaderValue::as_bytes),
        req.headers()
            .get("x-bench-pace-ms")
            .map(HeaderValue::as_bytes),
    );
    let capture = state
        .capture_dir
        .clone()
        .filter(|_| path.split('/').any(|s| s == "capture"));
    let body = match req.into_body().collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) => {
            return Ok(text(
                StatusCode::BAD_REQUEST,
                format!("could not read the request body: {e}\n"),
            ))
        }
    };
    if let Some(dir) = capture {
        if let Err(e) = std::fs::write(dir.join("last-request.json"), &body) {
            eprintln!(
                "bench-upstream: could not capture the request into {}: {e}",
                dir.display()
            );
        }
    }
    let canned = state.canned(shape.chunks);
    state.answers.fetch_add(1, Ordering::Relaxed);
    if !bench_upstream::wants_stream(&body) {
        let mut resp = Response::new(Answer::Json(Some(canned.json.clone())));
        resp.headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        return Ok(resp);
    }
    state.streams.fetch_add(1, Ordering::Relaxed);
    let pace = (shape.pace_ms > 0).then(|| Duration::from_millis(shape.pace_ms));
    let mut resp = Response::new(Answer::Stream(Stream {
        canned,
        next: 0,
        pace,
        start: Instant::now(),
        sleep: None,
    }));
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    resp.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    Ok(resp)
}

fn text(status: StatusCode, body: String) -> Response<Answer> {
    let mut resp = Response::new(Answer::Json(Some(Bytes::from(body))));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    resp
}

/// A response body: one pre-rendered buffer, or the frames of a (possibly paced) stream.
enum Answer {
    Json(Option<Bytes>),
    Stream(Stream),
}

/// Sends `canned.frames` one by one (frame `i` due at `start + i * pace`), then `canned.tail`.
struct Stream {
    canned: Arc<Canned>,
    next: usize,
    pace: Option<Duration>,
    start: Instant,
    sleep: Option<Pin<Box<Sleep>>>,
}

impl Body for Answer {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.get_mut() {
            Answer::Json(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            Answer::Stream(s) => s.poll_next(cx).map(|b| b.map(|b| Ok(Frame::data(b)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Answer::Json(bytes) => bytes.is_none(),
            Answer::Stream(s) => s.next > s.canned.frames.len(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Answer::Json(Some(b)) => SizeHint::with_exact(b.len() as u64),
            Answer::Json(None) => SizeHint::with_exact(0),
            Answer::Stream(_) => SizeHint::default(),
        }
    }
}

impl Stream {
    fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        let frames = self.canned.frames.len();
        if self.next > frames {
            return Poll::Ready(None);
        }
        if let (Some(pace), true) = (self.pace, self.next > 0) {
            if self.sleep.is_none() {
                let due = self.start + pace * u32::try_from(self.next).unwrap_or(u32::MAX);
                if Instant::now() < due {
                    self.sleep = Some(Box::pin(tokio::time::sleep_until(due)));
                }
            }
            if let Some(sleep) = self.sleep.as_mut() {
                if sleep.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                self.sleep = None;
            }
        }
        let bytes = match self.canned.frames.get(self.next) {
            Some(frame) => frame.clone(),
            None => self.canned.tail.clone(),
        };
        self.next += 1;
        Poll::Ready(Some(bytes))
    }
}
