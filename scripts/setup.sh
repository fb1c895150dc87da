#!/usr/bin/env bash
# Set up webgen on a fresh Debian machine; idempotent and quick when already done.
#   1. Debian's chromium (never `playwright install`)
#   2. .venv with webgen and its extras, pinned by constraints.txt (CPU torch 2.13.0)
#   3. the scaffold's node_modules cache (~/.cache/webgen, or $WEBGEN_HOME)
#   4. with --test: Debian's PostgreSQL on loopback for the store's tests (scripts/postgres.sh)
# Environment: WEBGEN_EXTRAS (default "all,dev"), PYTHON (default python3.11, else python3).
set -euo pipefail
cd "$(dirname "$0")/.."
with_test_services=0
for arg in "$@"; do
  case "$arg" in
    --test) with_test_services=1 ;;
    *) echo "usage: scripts/setup.sh [--test]" >&2; exit 2 ;;
  esac
done

extras="${WEBGEN_EXTRAS:-all,dev}"
python="${PYTHON:-$(command -v python3.11 || command -v python3)}"
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"

need_apt=()
[ -x /usr/bin/chromium ] || need_apt+=(chromium)
command -v node >/dev/null && command -v npm >/dev/null || need_apt+=(nodejs npm)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: apt-get install ${need_apt[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

[ -x .venv/bin/python ] || "$python" -m venv .venv
stamp=.venv/.webgen-setup
want="$(cat pyproject.toml constraints.txt | sha256sum | cut -c1-16) $extras"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "setup: pip install -e .[$extras] (constraints.txt)"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -c constraints.txt -e ".[$extras]"
  echo "$want" > "$stamp"
fi

.venv/bin/webgen scaffold install
if [ "$with_test_services" -eq 1 ]; then
  echo "setup: PostgreSQL for the tests at $(bash scripts/postgres.sh)"
fi
