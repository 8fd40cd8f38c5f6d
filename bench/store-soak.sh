#!/usr/bin/env bash
# The response store under a soak (issue 13): 10,000 stored responses through the release proxy
# with a small `storage.max_bytes`, then the same requests with `store: false`, side by side.
# Reports the write cost per stored response (proxy CPU and latency, stored minus not stored),
# the store's size on disk against its bound, and writes bench/results/<date>-<sha>-store.md and
# the section between the store-soak markers in docs/benchmarks.md.
#
#   bench/store-soak.sh [--requests N] [--max-bytes B] [--concurrency C]
#
# Needs: cargo, curl, taskset (when there are 2+ cores). Listens on 127.0.0.1 only.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

REQUESTS=10000 MAX_BYTES=$((4 * 1024 * 1024)) CONC=8
while [ $# -gt 0 ]; do
  case "$1" in
    --requests) REQUESTS=$2; shift 2 ;;
    --max-bytes) MAX_BYTES=$2; shift 2 ;;
    --concurrency) CONC=$2; shift 2 ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "unknown option: $1 (see --help)" >&2; exit 64 ;;
  esac
done

PORT_BASE=${BENCH_PORT_BASE:-18400}
MOCK=127.0.0.1:$((PORT_BASE + 1)) PROXY=127.0.0.1:$((PORT_BASE + 2))
DATE=$(date -u +%Y-%m-%d)
SHA=$(git rev-parse --short HEAD 2>/dev/null || echo nogit)
RUN_DIR=$(mktemp -d "${TMPDIR:-/tmp}/ccp-store-soak.XXXXXX")
PIDS=()
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$RUN_DIR"
}
trap cleanup EXIT

say() { printf '\n== %s\n' "$*"; }
wait_http() { # url seconds
  local i
  for ((i = 0; i < $2 * 10; i++)); do
    if curl -sf -o /dev/null "$1"; then return 0; fi
    sleep 0.1
  done
  echo "nothing answered at $1 within $2 s" >&2
  return 1
}
if [ "$(nproc)" -ge 2 ]; then PIN_PROXY=(taskset -c 0) PIN_LOAD=(taskset -c 1); else PIN_PROXY=() PIN_LOAD=(); fi

say "building release binaries"
cargo build --release -p codex-convert-proxy -p ccp-bench-upstream -p ccp-bench-driver
BIN=target/release
"$BIN/bench-driver" prepare --fixture fixtures/codex-requests/text-turn.json --out-dir "$RUN_DIR/bodies" > /dev/null

"${PIN_LOAD[@]}" "$BIN/bench-upstream" --listen "$MOCK" > "$RUN_DIR/mock.log" 2>&1 &
PIDS+=("$!")
wait_http "http://$MOCK/health" 10

DATA=$RUN_DIR/data
cat > "$RUN_DIR/proxy.json" <<EOF
{
  "listen": "$PROXY",
  "log_dir": "$RUN_DIR/logs",
  "data_dir": "$DATA",
  "storage": {"max_bytes": $MAX_BYTES},
  "backends": [{"name": "bench", "url": "http://$MOCK/v1", "model": "bench-model", "protocol": "chat", "match_rules": {"default": true}}]
}
EOF
"${PIN_PROXY[@]}" "$BIN/codex-convert-proxy" --config "$RUN_DIR/proxy.json" > "$RUN_DIR/proxy.out" 2>&1 &
PROXY_PID=$!
PIDS+=("$PROXY_PID")
wait_http "http://$PROXY/health" 10

drive() { # label body
  say "$1: $REQUESTS requests, concurrency $CONC"
  "${PIN_LOAD[@]}" "$BIN/bench-driver" run --label "$1" --target "http://$PROXY/v1/responses" \
    --body "$2" --kind responses-json --concurrency "$CONC" --requests "$REQUESTS" --warmup 200 \
    --check-every 50 --pid "$PROXY_PID" --out "$RUN_DIR/$1.json" > /dev/null
}
# Alternate twice so drift on a shared machine shows up as a difference between the pairs.
drive stored-1 "$RUN_DIR/bodies/small-stored-json.json"
drive unstored-1 "$RUN_DIR/bodies/small-json.json"
drive stored-2 "$RUN_DIR/bodies/small-stored-json.json"
drive unstored-2 "$RUN_DIR/bodies/small-json.json"
# Let a last background eviction finish, then measure the files.
sleep 2
file_bytes() { stat -c %s "$1" 2>/dev/null || echo 0; }
MAIN=$(file_bytes "$DATA/ccp.sqlite3") WAL=$(file_bytes "$DATA/ccp.sqlite3-wal")

python3 - "$RUN_DIR" "$REQUESTS" "$MAX_BYTES" "$MAIN" "$WAL" "$DATE" "$SHA" "$CONC" <<'PY'
import json, sys, pathlib
run, n, bound, main, wal, date, sha, conc = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), sys.argv[6], sys.argv[7], sys.argv[8]
def load(label):
    r = json.loads(pathlib.Path(run, f"{label}.json").read_text())
    assert r["errors"] == 0 and r["check_failures"] == 0, f"{label}: {r['errors']} errors, {r['check_failures']} wrong answers"
    return r
rows = []
for pair in ("1", "2"):
    s, u = load(f"stored-{pair}"), load(f"unstored-{pair}")
    # CPU per request: the proxy's CPU seconds over the requests it served (warm-up included).
    cpu = lambda r: r["cpu"]["secs"] / (r["requests"] + 200) * 1e6
    rows.append((pair, cpu(s), cpu(u), s["total_us"]["p50"], u["total_us"]["p50"], s["requests_per_sec"], u["requests_per_sec"]))
write_cost = sum(r[1] - r[2] for r in rows) / len(rows)
lat_cost = sum(r[3] - r[4] for r in rows) / len(rows)
within = main <= bound * 2
md = [f"Store soak ({date}, {sha}): {2 * n:,} stored responses (two runs of {n:,}) through the release proxy, "
      f"`storage.max_bytes` = {bound:,} bytes, concurrency {conc}, SQLite under `data_dir`.", "",
      "| run | proxy CPU/request stored | not stored | p50 latency stored | not stored | req/s stored | not stored |",
      "|---|---|---|---|---|---|---|"]
for pair, cs, cu, ls, lu, rs, ru in rows:
    md.append(f"| {pair} | {cs:.0f} µs | {cu:.0f} µs | {ls:.0f} µs | {lu:.0f} µs | {rs:,.0f} | {ru:,.0f} |")
md += ["", f"Write cost per stored response: **{write_cost:.0f} µs of proxy CPU**, {lat_cost:.0f} µs of p50 latency "
       f"(stored minus not stored, mean of the two pairs).",
       f"On disk after the soak: `ccp.sqlite3` {main:,} bytes, WAL {wal:,} bytes; the stored data is bounded by "
       f"`max_bytes` ({bound:,}); the file holds it plus indexes and free pages: "
       f"{'within' if within else 'OVER'} 2× the bound ({main / bound:.2f}×)."]
text = "\n".join(md) + "\n"
pathlib.Path(run, "store.md").write_text(text)
print(text)
if not within:
    sys.exit(2)
PY
mkdir -p bench/results
OUT="bench/results/$DATE-$SHA-store.md"
cp "$RUN_DIR/store.md" "$OUT"
python3 - docs/benchmarks.md "$RUN_DIR/store.md" <<'PY'
import sys, pathlib
docs, section = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]).read_text()
start, end = "<!-- store-soak:start -->", "<!-- store-soak:end -->"
text = docs.read_text()
if start in text and end in text:
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    text = head + start + "\n" + section + end + tail
else:
    text += f"\n## The response store under a soak\n\n`bench/store-soak.sh` (issue 13).\n\n{start}\n{section}{end}\n"
docs.write_text(text)
PY
say "wrote $OUT and docs/benchmarks.md"
