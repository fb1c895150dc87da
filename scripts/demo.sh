#!/usr/bin/env bash
# A demo of the whole agent loop against a scripted model server (webgen/examples/demo_script.yaml):
# real builds, real Chromium, a real GUI test and a real store; only the model replies are scripted.
# Usage: scripts/demo.sh [OUT_DIR]   (after scripts/setup.sh). Point the roles at real endpoints to use
# real models instead: see the README.
set -euo pipefail
cd "$(dirname "$0")/.."
python="${PYTHON:-.venv/bin/python}"
out="${1:-webgen-out/demo}"
state="${out%/}-run"  # the model server's log and the store sit beside OUT: `--out` takes only webgen's output
mkdir -p "$state"
port="$("$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
"$python" -m webgen fake-llm --script webgen/examples/demo_script.yaml --port "$port" > "$state/fake-llm.log" 2>&1 &
fake=$!
trap 'kill $fake 2>/dev/null || true' EXIT
"$python" - "$port" <<'PY'
import sys, time, urllib.request
for _ in range(100):
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/v1/models", timeout=1)
        break
    except OSError:
        time.sleep(0.2)
else:
    sys.exit("the scripted model server did not start")
PY
for role in CODER JUDGE GUI; do
  export "WEBGEN_${role}__BASE_URL=http://127.0.0.1:$port/v1" "WEBGEN_${role}__MODEL=${role,,}"
done
export WEBGEN_AGENT__GUI_WAITS='{"click": 0.5, "type": 0.5, "scroll": 0.5, "wait": 0.5, "goback": 0.5}'
export WEBGEN_DATABASE_URL="${WEBGEN_DATABASE_URL:-sqlite:///$(cd "$state" && pwd)/demo.db}"
"$python" -m webgen build "A website for a bakery: a home page, a menu with search and a cart, and a contact form. \
Warm amber colours." --out "$out"
echo "The best step's site is in $out/site and its screenshots in $out/screenshots."
