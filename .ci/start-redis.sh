#!/usr/bin/env bash
# Makes sure Redis answers on 127.0.0.1 for crates/governance's tests (idempotent), which fail,
# never skip, without it. When nothing answers, as root: installs the Debian package
# `redis-server` if it is missing, then starts a throwaway server bound to the loopback address
# only, with no persistence (a CI machine). Anything else that goes wrong stops CI here, loudly.
#   CCP_REDIS_PORT (default 6379): which port (tests of this script).
# With CCP_TEST_REDIS_URL set, the tests use that server and nothing is started.
set -euo pipefail

PORT="${CCP_REDIS_PORT:-6379}"

log() { printf 'start-redis: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

if [[ -n ${CCP_TEST_REDIS_URL:-} ]]; then
    log "CCP_TEST_REDIS_URL is set; using that server"
    exit 0
fi

# PING over bash's /dev/tcp, so the check needs no client installed.
ready() {
    local reply
    reply="$(timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$PORT && printf 'PING\r\n' >&3 && head -c 5 <&3" 2>/dev/null)" ||
        return 1
    [[ $reply == "+PONG" ]]
}

if ready; then
    log "Redis already answers on 127.0.0.1:$PORT"
    exit 0
fi

[[ $(id -u) -eq 0 ]] ||
    die "nothing answers on 127.0.0.1:$PORT and starting Redis needs root; start it, or set CCP_TEST_REDIS_URL"
if ! command -v redis-server >/dev/null 2>&1; then
    command -v apt-get >/dev/null 2>&1 || die "redis-server is not installed and there is no apt-get"
    log "installing the Debian package redis-server"
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends redis-server
fi
log "starting redis-server on 127.0.0.1:$PORT"
redis-server --daemonize yes --bind 127.0.0.1 --port "$PORT" --save "" --appendonly no ||
    die "redis-server could not start"
for _ in $(seq 1 60); do
    ready && break
    sleep 0.5
done
ready || die "redis-server started but does not answer on 127.0.0.1:$PORT within 30 s"
log "Redis answers on 127.0.0.1:$PORT"
