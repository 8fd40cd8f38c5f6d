#!/usr/bin/env bash
# Installs the external tools the end-to-end tests need into <repo>/.tools (idempotent):
#   * the Codex CLI (npm package @openai/codex, pinned) -> .tools/node_modules/@openai/…/bin/codex
#   * a Python venv with the OpenAI SDK (pinned)        -> .tools/venv/bin/python
#   * the Vercel AI SDK (npm ai, @ai-sdk/openai, zod; pinned) -> .tools/node_modules/{ai,@ai-sdk/openai,zod}
#   * Debian packages, only when missing and only when running as root (node/npm, python3-venv,
#     prometheus: the server the metrics end-to-end test scrapes the proxy with; chromium and
#     chromium-driver: the headless browser the console end-to-end test drives)
# Tests locate these through crates/testkit (codex_binary, python_bin, vercel_ai_sdk,
# prometheus_binary, chromium) and fail, never skip,
# when they are absent.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="$ROOT/.tools"
CODEX_VERSION="0.169.0"
OPENAI_VERSION="3.60.0"
# The Vercel AI SDK packages, pinned together (ai and @ai-sdk/openai share @ai-sdk/provider-utils).
VERCEL_PACKAGES=("ai@7.0.173" "@ai-sdk/openai@4.0.118" "zod@4.6.7")
started=$SECONDS

log() { printf 'install-test-tools: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# --- Debian packages -------------------------------------------------------------------------
missing=()
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
command -v python3 >/dev/null 2>&1 || missing+=(python3)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || missing+=(python3-venv)
command -v prometheus >/dev/null 2>&1 || missing+=(prometheus)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
if ((${#missing[@]})); then
    if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
        log "installing Debian packages: ${missing[*]}"
        apt-get update
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
            ca-certificates "${missing[@]}"
    else
        die "missing system packages: ${missing[*]} (as root: apt-get install ${missing[*]})"
    fi
fi

# --- Rust components used by .ci/run -----------------------------------------------------------
for component in rustfmt clippy; do
    subcommand=${component/rustfmt/fmt}
    if ! cargo "$subcommand" --version >/dev/null 2>&1; then
        command -v rustup >/dev/null 2>&1 || die "cargo $subcommand missing and no rustup"
        log "adding rust component $component"
        rustup component add "$component"
    fi
done

# --- Codex CLI -----------------------------------------------------------------------------------
mkdir -p "$TOOLS"
find_codex() {
    local scope="$TOOLS/node_modules/@openai"
    [[ -d $scope ]] || return 0
    find "$scope" -path '*/vendor/*/bin/codex' -type f 2>/dev/null | sort | head -n 1
}
codex_pkg="$TOOLS/node_modules/@openai/codex/package.json"
installed=""
if [[ -f $codex_pkg ]]; then
    installed=$(node -e 'process.stdout.write(require(process.argv[1]).version)' "$codex_pkg")
fi
if [[ $installed != "$CODEX_VERSION" || -z $(find_codex) ]]; then
    log "installing @openai/codex@$CODEX_VERSION into $TOOLS (found: ${installed:-none})"
    npm install --prefix "$TOOLS" --no-audit --no-fund --save-exact "@openai/codex@$CODEX_VERSION"
else
    log "@openai/codex@$CODEX_VERSION already installed"
fi
codex_bin=$(find_codex)
[[ -n $codex_bin ]] || die "npm installed @openai/codex but no vendor/*/bin/codex binary was found"
log "codex: $codex_bin ($("$codex_bin" --version))"

# --- Vercel AI SDK -------------------------------------------------------------------------------
npm_version() {
    local pkg="$TOOLS/node_modules/$1/package.json"
    [[ -f $pkg ]] && node -e 'process.stdout.write(require(process.argv[1]).version)' "$pkg"
}
vercel_missing=()
for spec in "${VERCEL_PACKAGES[@]}"; do
    name=${spec%@*}
    [[ $(npm_version "$name" || true) == "${spec##*@}" ]] || vercel_missing+=("$spec")
done
if ((${#vercel_missing[@]})); then
    log "installing ${vercel_missing[*]} into $TOOLS"
    npm install --prefix "$TOOLS" --no-audit --no-fund --save-exact "${VERCEL_PACKAGES[@]}"
else
    log "${VERCEL_PACKAGES[*]} already installed"
fi
for spec in "${VERCEL_PACKAGES[@]}"; do
    name=${spec%@*}
    got=$(npm_version "$name" || true)
    [[ $got == "${spec##*@}" ]] || die "npm installed $name ${got:-nothing}, not ${spec##*@}"
done
log "vercel ai sdk: $TOOLS/node_modules (${VERCEL_PACKAGES[*]}, node $(node --version))"

# --- Python venv with the OpenAI SDK ----------------------------------------------------------
python="$TOOLS/venv/bin/python"
openai_version() { "$python" -c 'import openai; print(openai.__version__)' 2>/dev/null || true; }
openai_installed=$(openai_version)
if [[ $openai_installed == "$OPENAI_VERSION" ]]; then
    log "openai==$OPENAI_VERSION already installed"
else
    log "installing openai==$OPENAI_VERSION into $TOOLS/venv (found: ${openai_installed:-none})"
    [[ -x $python ]] || python3 -m venv "$TOOLS/venv"
    "$python" -m pip install -q --disable-pip-version-check "openai==$OPENAI_VERSION"
fi
openai_installed=$(openai_version)
[[ $openai_installed == "$OPENAI_VERSION" ]] || die "pip installed openai ${openai_installed:-nothing}, not $OPENAI_VERSION"
log "python: $python (openai $openai_installed)"

log "done in $((SECONDS - started)) s"
