#!/usr/bin/env bash
# Makes sure PostgreSQL answers on 127.0.0.1 for crates/store's tests (idempotent), which fail,
# never skip, without it. When nothing answers, as root: installs the Debian package `postgresql`
# if no cluster exists, lets the loopback address in without a password (trust, 127.0.0.1/32
# only: a CI machine), starts the cluster, and creates the database `test`. Anything else that
# goes wrong stops CI here, loudly.
#   CCP_PG_PORT (default 5432), CCP_PG_CLUSTER (default main): which cluster (tests of this script).
# With CCP_TEST_POSTGRES_URL set, the tests use that server and nothing is started.
set -euo pipefail

PORT="${CCP_PG_PORT:-5432}"
CLUSTER="${CCP_PG_CLUSTER:-main}"

log() { printf 'start-postgres: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

if [[ -n ${CCP_TEST_POSTGRES_URL:-} ]]; then
    log "CCP_TEST_POSTGRES_URL is set; using that server"
    exit 0
fi

ready() { command -v pg_isready >/dev/null 2>&1 && pg_isready -q -h 127.0.0.1 -p "$PORT"; }

if ready; then
    log "PostgreSQL already answers on 127.0.0.1:$PORT"
else
    [[ $(id -u) -eq 0 ]] ||
        die "nothing answers on 127.0.0.1:$PORT and starting PostgreSQL needs root; start it, or set CCP_TEST_POSTGRES_URL"
    if ! compgen -G "/etc/postgresql/*/$CLUSTER" >/dev/null; then
        [[ $CLUSTER == main ]] || die "no PostgreSQL cluster named $CLUSTER"
        command -v apt-get >/dev/null 2>&1 || die "PostgreSQL is not installed and there is no apt-get"
        log "installing the Debian package postgresql"
        apt-get update
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql
    fi
    version="$(find /etc/postgresql -mindepth 2 -maxdepth 2 -name "$CLUSTER" | sort -V | tail -n 1 | cut -d/ -f4)"
    [[ -n $version ]] || die "no PostgreSQL cluster $CLUSTER under /etc/postgresql after installing"
    hba="/etc/postgresql/$version/$CLUSTER/pg_hba.conf"
    if ! grep -Eq '^host[[:space:]]+all[[:space:]]+all[[:space:]]+127\.0\.0\.1/32[[:space:]]+trust' "$hba"; then
        log "letting 127.0.0.1 in without a password ($hba)"
        sed -i '1i host all all 127.0.0.1/32 trust' "$hba"
    fi
    if pg_ctlcluster "$version" "$CLUSTER" status >/dev/null 2>&1; then
        log "cluster $version/$CLUSTER runs but does not answer on 127.0.0.1:$PORT; reloading"
        pg_ctlcluster --skip-systemctl-redirect "$version" "$CLUSTER" reload
    else
        log "starting cluster $version/$CLUSTER"
        pg_ctlcluster --skip-systemctl-redirect "$version" "$CLUSTER" start ||
            die "pg_ctlcluster could not start $version/$CLUSTER (see /var/log/postgresql/)"
    fi
    for _ in $(seq 1 60); do
        ready && break
        sleep 0.5
    done
    ready || die "PostgreSQL $version/$CLUSTER started but does not answer on 127.0.0.1:$PORT within 30 s"
    log "PostgreSQL $version/$CLUSTER answers on 127.0.0.1:$PORT"
fi

# The tests' default URL is postgres://postgres@127.0.0.1:$PORT/test.
psql=(psql -X -q -h 127.0.0.1 -p "$PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 -tA)
exists="$("${psql[@]}" -c "SELECT 1 FROM pg_database WHERE datname = 'test'")" ||
    die "cannot connect as postgres to 127.0.0.1:$PORT without a password"
if [[ $exists != 1 ]]; then
    log "creating the database test"
    "${psql[@]}" -c 'CREATE DATABASE test'
fi
