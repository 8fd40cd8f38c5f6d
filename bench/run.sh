#!/usr/bin/env bash
# Benchmarks codex-convert-proxy against a fast mock Chat Completions upstream, side by side
# with the mock alone (the floor) and with LiteLLM (the peer), and writes
# bench/results/<date>-<sha>.{json,md} plus the table in docs/benchmarks.md.
#
#   bench/run.sh [--quick] [--no-peer] [--no-nginx] [--keep]
#
#   --quick     fewer requests per scenario (a smoke test; numbers are noisier)
#   --no-peer   skip LiteLLM (its rows then read "not measured")
#   --no-nginx  skip the plain nginx pass-through hop
#   --keep      keep the per-run directory bench/results/run-*.tmp (raw driver output, logs)
#
# Needs: cargo, python3 (for the LiteLLM venv), wrk and nginx (installed with apt-get when
# missing), taskset, curl. Everything it starts listens on 127.0.0.1 and is stopped on exit.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

QUICK=0 PEER=1 NGINX=1 KEEP=0
for arg in "$@"; do
  case "$arg" in
    --quick) QUICK=1 ;;
    --no-peer) PEER=0 ;;
    --no-nginx) NGINX=0 ;;
    --keep) KEEP=1 ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "unknown option: $arg (see --help)" >&2; exit 64 ;;
  esac
done

PORT_BASE=${BENCH_PORT_BASE:-18300}
MOCK=127.0.0.1:$((PORT_BASE + 1)) PROXY=127.0.0.1:$((PORT_BASE + 2))
PEER_ADDR=127.0.0.1:$((PORT_BASE + 3)) NGINX_ADDR=127.0.0.1:$((PORT_BASE + 4))
STARTED=$(date +%s)
LOAD_AT_START=$(cut -d" " -f1-3 /proc/loadavg)
DATE=$(date -u +%Y-%m-%d)
SHA=$(git rev-parse --short HEAD 2>/dev/null || echo nogit)
if [ -n "$(git status --porcelain --untracked-files=no -- crates Cargo.toml Cargo.lock 2>/dev/null)" ]; then
  SHA="$SHA-dirty"
fi
RUN_DIR="bench/results/run-$DATE-$SHA.tmp"
rm -rf "$RUN_DIR" && mkdir -p "$RUN_DIR/capture" "$RUN_DIR/logs"
RUN_DIR=$(cd "$RUN_DIR" && pwd)

# Request counts: (full, --quick).
n() { if [ "$QUICK" = 1 ]; then echo "$2"; else echo "$1"; fi; }

PIDS=() CHILD=
cleanup() {
  local pid
  for pid in $CHILD "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ "$KEEP" = 0 ]; then rm -rf "$RUN_DIR"; else echo "kept $RUN_DIR"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Runs a measuring command in the background and waits for it, so that a signal stops the
# benchmark at once (bash defers traps while a foreground command runs).
measure() {
  "$@" &
  CHILD=$!
  local rc=0
  wait "$CHILD" || rc=$?
  CHILD=
  return "$rc"
}

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

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

# ---------------------------------------------------------------- pinning
CORES=$(nproc)
if [ "$CORES" -ge 2 ]; then
  PIN_PROXY=(taskset -c 0) PIN_LOAD=(taskset -c 1)
  PINNING="proxy (and LiteLLM, in its turn) pinned to core 0 with taskset -c 0; mock upstream, bench-driver and wrk pinned to core 1"
else
  PIN_PROXY=() PIN_LOAD=()
  PINNING="NOT pinned: only $CORES core(s); proxy, mock and load generator share it"
fi
say "pinning: $PINNING"

# ---------------------------------------------------------------- tools
apt_install() { # package
  local sudo=(); [ "$(id -u)" = 0 ] || sudo=(sudo)
  say "installing $1 (Debian package)"
  "${sudo[@]}" apt-get install -y "$1" >/dev/null 2>&1 \
    || { "${sudo[@]}" apt-get update >/dev/null && "${sudo[@]}" apt-get install -y "$1" >/dev/null; }
}
command -v wrk >/dev/null || apt_install wrk
NGINX_BIN=$(command -v nginx || echo /usr/sbin/nginx)
if [ "$NGINX" = 1 ] && ! [ -x "$NGINX_BIN" ]; then
  apt_install nginx-light || true
  [ -x "$NGINX_BIN" ] || { echo "nginx could not be installed; its column will read 'not measured'" >&2; NGINX=0; }
fi

VENV=bench/.venv-litellm
PEER_NOTE="not measured (--no-peer)"
if [ "$PEER" = 1 ]; then
  if ! cmp -s bench/litellm/requirements.txt "$VENV/.installed-requirements" 2>/dev/null; then
    say "installing LiteLLM into $VENV (bench/litellm/requirements.txt)"
    if python3 -m venv "$VENV" && "$VENV/bin/pip" install -q --disable-pip-version-check -r bench/litellm/requirements.txt; then
      cp bench/litellm/requirements.txt "$VENV/.installed-requirements"
    else
      echo "LiteLLM could not be installed; its rows will read 'not measured'" >&2
      PEER=0 PEER_NOTE="not measured (install failed)"
    fi
  fi
fi
if [ "$PEER" = 1 ]; then
  PEER_NOTE="LiteLLM $("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("litellm"))'), 1 worker, Responses→Chat bridge (use_chat_completions_api: true)"
fi

say "building release binaries"
cargo build --release -p codex-convert-proxy -p ccp-bench-upstream -p ccp-bench-driver
BIN=target/release
DRIVER=("${PIN_LOAD[@]}" "$BIN/bench-driver")

ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

"$BIN/bench-driver" prepare --fixture fixtures/codex-requests/text-turn.json --out-dir "$RUN_DIR/bodies" > "$RUN_DIR/bodies.json"
say "request bodies: $(cat "$RUN_DIR/bodies.json")"
B=$RUN_DIR/bodies

# ---------------------------------------------------------------- mock upstream
"${PIN_LOAD[@]}" "$BIN/bench-upstream" --listen "$MOCK" --capture-dir "$RUN_DIR/capture" > "$RUN_DIR/logs/mock.log" 2>&1 &
MOCK_PID=$!
PIDS+=("$MOCK_PID")
wait_http "http://$MOCK/health" 10

# ---------------------------------------------------------------- proxy
cat > "$RUN_DIR/proxy.json" <<EOF
{
  "listen": "$PROXY",
  "log_dir": "$RUN_DIR/logs/proxy",
  "data_dir": "$RUN_DIR/data",
  "backends": [
    {"name": "bench", "url": "http://$MOCK/v1", "model": "bench-model", "protocol": "chat", "match_rules": {"default": true}},
    {"name": "paced", "url": "http://$MOCK/chunks-64/pace-20/v1", "model": "bench-model", "protocol": "chat", "match_rules": {"path_prefix": "/paced"}},
    {"name": "slow", "url": "http://$MOCK/chunks-100/pace-50/v1", "model": "bench-model", "protocol": "chat", "match_rules": {"path_prefix": "/slow"}},
    {"name": "capture", "url": "http://$MOCK/capture/v1", "model": "bench-model", "protocol": "chat", "match_rules": {"path_prefix": "/capture"}}
  ]
}
EOF
"${PIN_PROXY[@]}" "$BIN/codex-convert-proxy" --config "$RUN_DIR/proxy.json" > "$RUN_DIR/logs/proxy.out" 2>&1 &
PROXY_PID=$!
PIDS+=("$PROXY_PID")
wait_http "http://$PROXY/health" 10
sleep 1
PROXY_IDLE_KIB=$(rss_kib "$PROXY_PID")

# The floor sends the mock exactly what the proxy sends it: capture one request of each kind.
capture() { # client-body floor-name [endpoint]
  rm -f "$RUN_DIR/capture/last-request.json"
  curl -sf -o /dev/null -H 'content-type: application/json' --data-binary "@$1" "http://$PROXY/capture/v1/${3:-responses}"
  mv "$RUN_DIR/capture/last-request.json" "$B/$2"
}
capture "$B/small-json.json" floor-small-json.json
capture "$B/small-sse.json" floor-small-sse.json
capture "$B/codex-json.json" floor-codex-json.json
# The Chat passthrough's upstream bodies: the client's Chat request as the proxy shapes it.
capture "$B/chat-small-json.json" floor-chat-small-json.json chat/completions
capture "$B/chat-small-sse.json" floor-chat-small-sse.json chat/completions

FAILED=()
# The process under test on each side, whose CPU time and RSS the driver records.
PID_floor=$MOCK_PID PID_nginx= PID_proxy=$PROXY_PID PID_litellm=
drive() { # name side driver-run-args...
  local name=$1 side=$2; shift 2
  local pid_var="PID_$side"
  if [ -n "${!pid_var}" ]; then set -- "$@" --pid "${!pid_var}"; fi
  # Everything but the floor runs on the proxy's core: record what else ran there.
  if [ "$side" != floor ] && [ "${#PIN_PROXY[@]}" -gt 0 ]; then set -- "$@" --core 0; fi
  # A wrong answer from the peer is a result to report, not a failure of the benchmark.
  if ! measure "${DRIVER[@]}" run --label "$name-$side" --out "$RUN_DIR/$name-$side.json" "$@" && [ "$side" != litellm ]; then
    FAILED+=("$name-$side")
  fi
}

PROXY_URL=http://$PROXY/v1/responses
FLOOR_CHAT=http://$MOCK/v1/chat/completions

# ---------------------------------------------------------------- nginx hop, on the proxy's core
if [ "$NGINX" = 1 ]; then
  mkdir -p "$RUN_DIR/nginx"
  sed -e "s|@DIR@|$RUN_DIR/nginx|g" -e "s|@MOCK@|$MOCK|g" -e "s|@LISTEN@|$NGINX_ADDR|g" \
    bench/nginx/nginx.conf.template > "$RUN_DIR/nginx/nginx.conf"
  "${PIN_PROXY[@]}" "$NGINX_BIN" -p "$RUN_DIR/nginx" -c "$RUN_DIR/nginx/nginx.conf" > "$RUN_DIR/logs/nginx.out" 2>&1 &
  PID_nginx=$!
  PIDS+=("$PID_nginx")
  wait_http "http://$NGINX_ADDR/health" 10
fi
NGINX_CHAT=http://$NGINX_ADDR/v1/chat/completions
# nginx passes the mock's chat answers through, so it is driven like the floor.
hop() { if [ "$NGINX" = 1 ]; then drive "$1" nginx "${@:2}"; fi; }

say "1. small non-streaming, c=1"
drive s1 floor --target "$FLOOR_CHAT" --body "$B/floor-small-json.json" --kind chat-json --requests "$(n 20000 2000)" --warmup 1000 --check-every 10 --max-secs 20
hop s1 --target "$NGINX_CHAT" --body "$B/floor-small-json.json" --kind chat-json --requests "$(n 20000 2000)" --warmup 1000 --check-every 10 --max-secs 20
drive s1 proxy --target "$PROXY_URL" --body "$B/small-json.json" --kind responses-json --requests "$(n 20000 2000)" --warmup 1000 --check-every 10 --max-secs 20

say "2. Codex body non-streaming, c=1"
drive s2 floor --target "$FLOOR_CHAT" --body "$B/floor-codex-json.json" --kind chat-json --requests "$(n 10000 1000)" --warmup 500 --check-every 10 --max-secs 20
hop s2 --target "$NGINX_CHAT" --body "$B/floor-codex-json.json" --kind chat-json --requests "$(n 10000 1000)" --warmup 500 --check-every 10 --max-secs 20
drive s2 proxy --target "$PROXY_URL" --body "$B/codex-json.json" --kind responses-json --requests "$(n 10000 1000)" --warmup 500 --check-every 10 --max-secs 20

say "3. streaming 30 chunks, c=1"
drive s3 floor --target "$FLOOR_CHAT" --body "$B/floor-small-sse.json" --kind chat-sse --requests "$(n 10000 1000)" --warmup 500 --check-every 10 --max-secs 20
hop s3 --target "$NGINX_CHAT" --body "$B/floor-small-sse.json" --kind chat-sse --requests "$(n 10000 1000)" --warmup 500 --check-every 10 --max-secs 20
drive s3 proxy --target "$PROXY_URL" --body "$B/small-sse.json" --kind responses-sse --requests "$(n 10000 1000)" --warmup 500 --check-every 10 --max-secs 20

say "4. throughput, small non-streaming, c=64 (wrk, 1 thread)"
WRK_SECS=$(n 10 3)
wrk_run() { # side url body [bearer]
  BENCH_BODY=$3 BENCH_BEARER=${4:-} measure "${PIN_LOAD[@]}" wrk -t1 -c64 -d2s -s bench/wrk/post.lua "$2" > /dev/null
  BENCH_BODY=$3 BENCH_BEARER=${4:-} measure "${PIN_LOAD[@]}" wrk -t1 -c64 -d"${WRK_SECS}s" --latency -s bench/wrk/post.lua "$2" > "$RUN_DIR/logs/wrk-$1.txt"
  grep '^WRKJSON ' "$RUN_DIR/logs/wrk-$1.txt" | cut -c9- > "$RUN_DIR/s4-$1.wrk.json"
  echo "s4-$1: $(cat "$RUN_DIR/s4-$1.wrk.json")"
}
wrk_run floor "$FLOOR_CHAT" "$B/floor-small-json.json"
if [ "$NGINX" = 1 ]; then wrk_run nginx "$NGINX_CHAT" "$B/floor-small-json.json"; fi
wrk_run proxy "$PROXY_URL" "$B/small-json.json"
# wrk does not read answers: check a sample of the same load with the driver.
drive s4check proxy --target "$PROXY_URL" --body "$B/small-json.json" --kind responses-json --concurrency 64 --requests "$(n 6400 640)" --check-every 1

say "4g. governance on: the same binary with a virtual key, budgets (key, team, global), rate limits and the response cache (every lookup a miss), side by side"
GOV=127.0.0.1:$((PORT_BASE + 5)) GOV_KEY=sk-ccp-bench-governed-key-000001
cat > "$RUN_DIR/governed.json" <<EOF
{
  "listen": "$GOV",
  "log_dir": "$RUN_DIR/logs/governed",
  "data_dir": "$RUN_DIR/governed-data",
  "backends": [{"name": "bench", "url": "http://$MOCK/v1", "model": "bench-model", "protocol": "chat", "match_rules": {"default": true}}],
  "pricing": {"*": {"input_per_mtok": 1.0, "output_per_mtok": 2.0}},
  "budgets": [{"scope": "global", "window": "day", "limit_usd": 1000000}],
  "cache": {"mode": "respect", "ttl_secs": 600},
  "virtual_keys": [{"name": "bench", "key": "$GOV_KEY", "principal": "bench@example.com", "team": "bench",
    "budgets": [{"scope": "key", "window": "day", "limit_usd": 1000000}, {"scope": "team", "window": "month", "limit_usd": 1000000}],
    "rate_limits": {"rpm": 1000000000, "tpm": 1000000000000}, "cache": "respect"}]
}
EOF
"${PIN_PROXY[@]}" "$BIN/codex-convert-proxy" --config "$RUN_DIR/governed.json" > "$RUN_DIR/logs/governed.out" 2>&1 &
GOV_PID=$!
PIDS+=("$GOV_PID")
wait_http "http://$GOV/health" 10
wrk_unique() { # side url body [bearer]
  BENCH_BODY=$3 BENCH_BEARER=${4:-} measure "${PIN_LOAD[@]}" wrk -t1 -c64 -d2s -s bench/wrk/post-unique.lua "$2" > /dev/null
  BENCH_BODY=$3 BENCH_BEARER=${4:-} measure "${PIN_LOAD[@]}" wrk -t1 -c64 -d"${WRK_SECS}s" --latency -s bench/wrk/post-unique.lua "$2" > "$RUN_DIR/logs/wrk-$1.txt"
  grep '^WRKJSON ' "$RUN_DIR/logs/wrk-$1.txt" | cut -c9- > "$RUN_DIR/s4-$1.wrk.json"
  echo "s4-$1: $(cat "$RUN_DIR/s4-$1.wrk.json")"
}
# Alternated twice, so drift on a shared machine shows as a difference between the pairs.
for pair in 1 2; do
  wrk_unique "plain$pair" "$PROXY_URL" "$B/small-json.json"
  wrk_unique "governed$pair" "http://$GOV/v1/responses" "$B/small-json.json" "$GOV_KEY"
done
curl -sf -o /dev/null -H "authorization: Bearer $GOV_KEY" -H 'content-type: application/json' --data-binary "@$B/small-json.json" "http://$GOV/v1/responses" \
  || { echo "the governed proxy refused its own key" >&2; FAILED+=("s4-governed"); }
kill "$GOV_PID" 2>/dev/null || true

say "4t. telemetry on: the same binary exporting spans (OTLP to a collector that is not there) and serving /metrics, side by side"
TEL=127.0.0.1:$((PORT_BASE + 6))
cat > "$RUN_DIR/telemetry.json" <<EOF
{
  "listen": "$TEL",
  "log_dir": "$RUN_DIR/logs/telemetry",
  "data_dir": "$RUN_DIR/telemetry-data",
  "metrics_listen": "127.0.0.1:$((PORT_BASE + 7))",
  "telemetry": {"enabled": true, "otlp_endpoint": "http://127.0.0.1:9", "sample_ratio": 1.0},
  "backends": [{"name": "bench", "url": "http://$MOCK/v1", "model": "bench-model", "protocol": "chat", "match_rules": {"default": true}}]
}
EOF
"${PIN_PROXY[@]}" "$BIN/codex-convert-proxy" --config "$RUN_DIR/telemetry.json" > "$RUN_DIR/logs/telemetry.out" 2>&1 &
TEL_PID=$!
PIDS+=("$TEL_PID")
wait_http "http://$TEL/health" 10
for pair in 1 2; do
  wrk_unique "tplain$pair" "$PROXY_URL" "$B/small-json.json"
  wrk_unique "telemetry$pair" "http://$TEL/v1/responses" "$B/small-json.json"
done
curl -sf "http://127.0.0.1:$((PORT_BASE + 7))/metrics" | grep -q '^ccp_requests_total' \
  || { echo "the telemetry proxy served no request metrics" >&2; FAILED+=("s4-telemetry"); }
kill "$TEL_PID" 2>/dev/null || true

say "5. paced streams (64 chunks, 20 ms apart) at 100 and 1,000 connections"
for c in 100 1000; do
  drive "s5-c$c" floor --target "http://$MOCK/chunks-64/pace-20/v1/chat/completions" --body "$B/floor-small-sse.json" --kind chat-sse \
    --concurrency "$c" --requests "$c" --expect-chunks 64 --ramp-ms 200 --max-checks 1000
  hop "s5-c$c" --target "http://$NGINX_ADDR/chunks-64/pace-20/v1/chat/completions" --body "$B/floor-small-sse.json" --kind chat-sse \
    --concurrency "$c" --requests "$c" --expect-chunks 64 --ramp-ms 200 --max-checks 1000
  drive "s5-c$c" proxy --target "http://$PROXY/paced/v1/responses" --body "$B/small-sse.json" --kind responses-sse \
    --concurrency "$c" --requests "$c" --expect-chunks 64 --ramp-ms 200 --max-checks 1000
done

say "7. WebSocket, streaming 30 chunks, c=1"
drive s7 proxy --target "ws://$PROXY/v1/responses" --body "$B/small-ws.json" --kind responses-ws --requests "$(n 10000 1000)" --warmup 500 --check-every 10 --max-secs 20

say "8. Chat passthrough (POST /v1/chat/completions to a chat backend), small, c=1"
# Floor and nginx send what the proxy sends upstream (captured above); the proxy gets the
# client's Chat request. All three answer in Chat, checked against the mock's canned text.
PROXY_CHAT=http://$PROXY/v1/chat/completions
drive s8-json floor --target "$FLOOR_CHAT" --body "$B/floor-chat-small-json.json" --kind chat-json --requests "$(n 20000 2000)" --warmup 1000 --check-every 10 --max-secs 20
hop s8-json --target "$NGINX_CHAT" --body "$B/floor-chat-small-json.json" --kind chat-json --requests "$(n 20000 2000)" --warmup 1000 --check-every 10 --max-secs 20
drive s8-json proxy --target "$PROXY_CHAT" --body "$B/chat-small-json.json" --kind chat-json --requests "$(n 20000 2000)" --warmup 1000 --check-every 10 --max-secs 20
drive s8-sse floor --target "$FLOOR_CHAT" --body "$B/floor-chat-small-sse.json" --kind chat-sse --requests "$(n 10000 1000)" --warmup 500 --check-every 10 --max-secs 20
hop s8-sse --target "$NGINX_CHAT" --body "$B/floor-chat-small-sse.json" --kind chat-sse --requests "$(n 10000 1000)" --warmup 500 --check-every 10 --max-secs 20
drive s8-sse proxy --target "$PROXY_CHAT" --body "$B/chat-small-sse.json" --kind chat-sse --requests "$(n 10000 1000)" --warmup 500 --check-every 10 --max-secs 20

say "6. memory: 1,000 open streams (100 chunks, 50 ms apart: 5 s each)"
drive s6 proxy --target "http://$PROXY/slow/v1/responses" --body "$B/small-sse.json" --kind responses-sse \
  --concurrency 1000 --requests 1000 --expect-chunks 100 --ramp-ms 500 --max-checks 1000 --settle-ms 3000
MOCK_STATS=$(curl -sf "http://$MOCK/stats")
kill "$PROXY_PID"; wait "$PROXY_PID" 2>/dev/null || true

# ---------------------------------------------------------------- LiteLLM, on the proxy's core
PEER_IDLE_KIB=null
if [ "$PEER" = 1 ]; then
  say "LiteLLM: $PEER_NOTE"
  sed "s/@MOCK@/$MOCK/" bench/litellm/config.template.yaml > "$RUN_DIR/litellm.yaml"
  PEER_KEY="sk-bench-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
  (cd "$RUN_DIR" && exec env LITELLM_MASTER_KEY="$PEER_KEY" "${PIN_PROXY[@]}" "$ROOT/$VENV/bin/litellm" \
      --config "$RUN_DIR/litellm.yaml" --host 127.0.0.1 --port "${PEER_ADDR##*:}" --num_workers 1 > "$RUN_DIR/logs/litellm.log" 2>&1) &
  PEER_PID=$!
  PID_litellm=$PEER_PID
  PIDS+=("$PEER_PID")
  wait_http "http://$PEER_ADDR/health/liveliness" 120
  sleep 2
  PEER_IDLE_KIB=$(rss_kib "$PEER_PID")
  PEER_URL=http://$PEER_ADDR/v1/responses
  AUTH=(--header "authorization: Bearer $PEER_KEY")
  small_model() { sed "s/\"bench-model\"/\"$1\"/" "$B/small-sse.json" > "$B/small-sse-$1.json"; }
  small_model bench-paced; small_model bench-slow
  drive s1 litellm --target "$PEER_URL" "${AUTH[@]}" --body "$B/small-json.json" --kind responses-json --requests "$(n 1000 200)" --warmup 50 --check-every 10 --max-secs 20
  drive s2 litellm --target "$PEER_URL" "${AUTH[@]}" --body "$B/codex-json.json" --kind responses-json --requests "$(n 500 100)" --warmup 20 --check-every 10 --max-secs 20
  drive s3 litellm --target "$PEER_URL" "${AUTH[@]}" --body "$B/small-sse.json" --kind responses-sse --requests "$(n 500 100)" --warmup 20 --check-every 10 --max-secs 20
  wrk_run litellm "$PEER_URL" "$B/small-json.json" "$PEER_KEY"
  for c in 100 1000; do
    drive "s5-c$c" litellm --target "$PEER_URL" "${AUTH[@]}" --body "$B/small-sse-bench-paced.json" --kind responses-sse \
      --concurrency "$c" --requests "$c" --expect-chunks 64 --ramp-ms 200 --max-checks 1000 --timeout-secs 120
  done
  drive s6 litellm --target "$PEER_URL" "${AUTH[@]}" --body "$B/small-sse-bench-slow.json" --kind responses-sse \
    --concurrency 1000 --requests 1000 --expect-chunks 100 --ramp-ms 500 --max-checks 1000 --settle-ms 3000 --timeout-secs 120
fi
printf '{"proxy_kib": %s, "litellm_kib": %s}\n' "$PROXY_IDLE_KIB" "$PEER_IDLE_KIB" > "$RUN_DIR/rss-idle.json"

# ---------------------------------------------------------------- report
ELAPSED=$(( $(date +%s) - STARTED ))
CPU=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
MEM=$(awk '/^MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)
OUT=bench/results/$DATE-$SHA
say "report"
REPORT_OK=1
"$BIN/bench-driver" report --dir "$RUN_DIR" --json-out "$OUT.json" --md-out "$OUT.md" --docs docs/benchmarks.md \
  --meta "date=$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
  --meta "commit=$SHA" \
  --meta "machine=$CPU, $CORES cores, $MEM RAM, Linux $(uname -r)" \
  --meta "pinning=$PINNING" \
  --meta "peer=$PEER_NOTE" \
  --meta "pass-through hop=$(if [ "$NGINX" = 1 ]; then "$NGINX_BIN" -v 2>&1 | cut -d' ' -f3; else echo 'not measured'; fi) (bench/nginx/nginx.conf.template: one process, keep-alive upstream, no buffering), pinned like the proxy" \
  --meta "load=$(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2) for throughput (1 thread, 64 connections, ${WRK_SECS} s after a 2 s warm-up); bench-driver (hyper, one keep-alive connection per worker) for everything else" \
  --meta "mock upstream=bench-upstream, answers counted: $MOCK_STATS" \
  --meta "run=bench/run.sh $*, ${ELAPSED} s wall clock including the build; load average before: $LOAD_AT_START, after: $(cut -d' ' -f1-3 /proc/loadavg)" \
  || REPORT_OK=0
cat "$OUT.md"
echo
echo "wrote $OUT.json, $OUT.md and the table in docs/benchmarks.md"
if [ "${#FAILED[@]}" -gt 0 ] || [ "$REPORT_OK" = 0 ]; then
  echo "FAILED: wrong or failed answers in: ${FAILED[*]:-see the report}" >&2
  exit 1
fi
