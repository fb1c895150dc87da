#!/usr/bin/env bash
# GPU check of the trainers, printing one JSON object. Each trainer runs 2 optimizer steps on a randomly
# initialised model of Qwen2.5-0.5B's shape (webgen.training.tiny, shape "0.5b": nothing is downloaded),
# generating with vLLM colocate where the trainer generates, against the real environment (builds, Chromium)
# with the judge and the GUI agent scripted through the fake model server:
#   preflight     the environment builds and renders a page (Chromium, Node, the scaffold); else exit 2
#   seed          a scripted agent run in this check's own store: the stored states step-grpo state trains on
#   sft, grpo, step-grpo-trajectory (vLLM sleep mode: wake/sleep around each multi-turn rollout), gigpo,
#   step-grpo-state; each fails when no completion got a reward (a missing environment scores nothing)
#   sign          the sign tests (tests/training/test_sign.py, test_credit.py) on this machine's GPU
# Per trainer: seconds per step (TRL's step_time and the wall time with start-up), peak GPU memory (PyTorch's and
# the device's sampled), and the reward statistics of the stored completions. Exit 0 only when all passed.
#
# Needs: one CUDA GPU, `.venv` with webgen[all,gpu] (vLLM in the range TRL 1.16 supports), Chromium, Node and
# the scaffold cache (bash scripts/setup.sh). Each trainer runs in a fresh process (one vLLM engine per process).
# Not run on the development machines (no GPU there).
#
# Usage: bash scripts/gpu_check.sh [--keep DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
KEEP=""
if [[ "${1:-}" == "--keep" ]]; then KEEP="${2:?--keep needs a folder}"; fi

fail() { echo "gpu_check: $*" >&2; exit 2; }
command -v nvidia-smi >/dev/null 2>&1 || fail "no GPU here (nvidia-smi not found); run this on a CUDA machine"
"$PY" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null \
  || fail "torch sees no CUDA GPU (a CPU build of torch, or no driver); install webgen[gpu] on a GPU machine"
"$PY" -c 'import vllm' 2>/dev/null || fail "vllm is not installed: pip install -e '.[gpu]' on the GPU machine"
"$PY" -c 'from trl.import_utils import is_vllm_available as ok; import sys; sys.exit(0 if ok() else 1)' 2>/dev/null \
  || fail "TRL does not accept the installed vLLM (TRL 1.16 supports 0.22-0.31): pip install -e '.[gpu]'"
WORK=${KEEP:-$(mktemp -d -t webgen-gpu-check-XXXX)}
mkdir -p "$WORK"
PROG="$WORK/gpu_check_trainer.py"
cat > "$PROG" <<'PYEOF'
"""One gpu_check step (preflight, seed, or a trainer) on the 0.5B-shaped model; prints one GPU_CHECK JSON line."""
import json, statistics, sys, threading, time
from pathlib import Path

import torch

what, work = sys.argv[1], Path(sys.argv[2])
from webgen.agent.fake_server import FakeLLMServer
from webgen.core.env import apply_offline_env
from webgen.core.settings import ModelEndpoint, Settings
from webgen.storage.store import TrajectoryStore
from webgen.training.config import GRPOTrainConfig, SFTTrainConfig, StateGRPOConfig, load_config
from webgen.training.tiny import build_tiny_model

apply_offline_env()
model = work / "model-0.5b"
if not (model / "config.json").is_file():
    build_tiny_model(model, shape="0.5b")
APP = 'export default function App() { return <main className="p-8"><h1>Bakery</h1><p>Fresh bread</p></main>; }'
SITE = f'<boltArtifact id="s" title="s"><boltAction type="file" filePath="src/App.tsx">{APP}</boltAction></boltArtifact>'
verdict = {"has_error": False, "description": "a page", "suggestions": "", "score": 3}
rules = [
    {"model": "coder", "times": -1, "reply": SITE},
    {"model": "judge", "match": "Write the instruction it will follow", "times": -1, "reply": "<test>Open it.</test>"},
    {"model": "judge", "match": "Read the agent's log", "times": -1,
     "reply": 'ok {"test_passed": true, "improvement_suggestions": "", "grade": 4}'},
    {"model": "judge", "times": -1, "reply": {"content": verdict}},
    {"model": "gui", "times": -1, "reply": "Thought: done.\nAction: ANSWER; YES"},
]
database = f"sqlite:///{work / 'gpu_check.db'}"
peak = {"device_used_gib": 0.0}
stop = threading.Event()

def sample() -> None:
    while not stop.is_set():
        free, total = torch.cuda.mem_get_info()
        peak["device_used_gib"] = max(peak["device_used_gib"], (total - free) / 2**30)
        time.sleep(0.5)

def settings_for(server) -> Settings:
    endpoints = {role: ModelEndpoint(base_url=server.base_url, model=role, timeout_s=60).model_dump()
                 for role in ("coder", "judge", "gui")}
    return Settings().updated(database_url=database, **endpoints)

def preflight(settings: Settings) -> dict:
    """The environment builds and renders one page; any missing piece (Chromium, Node, scaffold) fails here."""
    from webgen.feedback.site.environment import SiteEnvironment
    from webgen.feedback.site.workspace import FileWrite, Workspace
    from webgen.core.blobs import MemoryBlobStore
    with SiteEnvironment(settings) as env:
        site = env.new_site(work / "preflight-site")
        Workspace(site, MemoryBlobStore()).apply([FileWrite(path="src/App.tsx", content=APP)])
        observed = env.observe(site)  # build, serve, Chromium: every piece a reward needs
        if not (observed.build.ok and any(page.ok for page in observed.pages)):
            raise RuntimeError(f"the preflight page did not build and render: {[c.detail for c in observed.checks if not c.passed][:3]}")
    return {"built": True, "rendered_routes": sum(page.ok for page in observed.pages)}

def seed(settings: Settings) -> dict:
    """A scripted agent run (2 steps) in this check's store: the states step-grpo state trains on."""
    from webgen.graph.session import Session
    from webgen.storage.training import state_rows
    from webgen.storage.values import TaskIn
    with TrajectoryStore(database) as store, Session(settings, store=store) as session:
        outcome = session.start(TaskIn(source="gpu-check", external_id="seed", instruction="A bakery site"),
                                mode="single-shot")
        rows = state_rows(store, include_error_steps=True)
    if not rows:
        raise RuntimeError(f"seeding made no stored state (run {outcome.status})")
    return {"stored_states": len(rows), "run_status": outcome.status}

def rewards_of(runs_before: set) -> list:
    with TrajectoryStore(database) as store:
        runs = [r for r in store.list_runs() if r.id not in runs_before]
        return [s.reward for r in runs for s in store.steps(r.id)]

common = {
    "model": str(model), "output_dir": str(work / f"out-{what}"), "max_steps": 2, "report_to": "none",
    "logging_steps": 1, "save_strategy": "steps", "save_steps": 2, "bf16": True, "database_url": database,
}
vllm = {"use_vllm": True, "vllm_mode": "colocate", "vllm_gpu_memory_utilization": 0.3, "vllm_max_model_length": 8192,
        "num_generations": 4, "per_device_train_batch_size": 4, "gradient_accumulation_steps": 2,
        "pool_workers": 4, "eval_timeout_s": 120}
(work / "tasks.jsonl").write_text("".join(
    json.dumps({"id": i, "instruction": text}) + "\n"
    for i, text in enumerate(["A bakery site with a menu", "A portfolio with a contact form"], 1)))
(work / "sft.jsonl").write_text("".join(json.dumps({"messages": [
    {"role": "user", "content": "A bakery site"}, {"role": "assistant", "content": SITE}]}) + "\n" for _ in range(8)))

result = {"step": what, "ok": False}
threading.Thread(target=sample, daemon=True).start()
torch.cuda.reset_peak_memory_stats()
started = time.monotonic()
with FakeLLMServer(rules) as server:
    settings = settings_for(server)
    try:
        if what == "preflight":
            result.update(ok=True, **preflight(settings))
        elif what == "seed":
            result.update(ok=True, **seed(settings))
        else:
            with TrajectoryStore(database) as store:
                before = {r.id for r in store.list_runs()}
            rollout = {"tasks_file": str(work / "tasks.jsonl"), "max_turns": 3, "max_turn_tokens": 512,
                       "max_context_tokens": 8192, "drop_overlong": False, "vllm_enable_sleep_mode": True}
            if what == "sft":
                from webgen.training.sft import train
                config = load_config(SFTTrainConfig, None, {**common, "data_file": str(work / "sft.jsonl"),
                                                            "per_device_train_batch_size": 4, "max_length": 1024})
            elif what == "grpo":
                from webgen.training.grpo import train
                config = load_config(GRPOTrainConfig, None, {**common, **vllm, "tasks_file": str(work / "tasks.jsonl"),
                                                             "max_completion_length": 1024})
            elif what in ("step-grpo-trajectory", "gigpo"):
                from webgen.training.trajectory import TrajectoryConfig, train
                grouping = "gigpo" if what == "gigpo" else "trajectory"
                config = load_config(TrajectoryConfig, None, {**common, **vllm, **rollout, "grouping": grouping})
            else:
                from webgen.training.state import train
                config = load_config(StateGRPOConfig, None, {**common, **vllm, "include_error_steps": True,
                                                             "max_completion_length": 512})
            summary = train(config, settings)
            state = json.loads((Path(config.output_dir) / "checkpoint-2" / "trainer_state.json").read_text())
            times = [e["step_time"] for e in state["log_history"] if "step_time" in e]
            scored = [r for r in rewards_of(before) if r is not None]
            result.update(steps=summary.steps, runs_stored=summary.runs_stored,
                          seconds_per_step=round(sum(times) / len(times), 2) if times else None,
                          wall_s_with_startup=round(time.monotonic() - started, 1))
            if what != "sft":
                result["rewards"] = {"scored": len(scored), "mean": round(statistics.fmean(scored), 3) if scored else None,
                                     "std": round(statistics.pstdev(scored), 3) if scored else None,
                                     "min": min(scored, default=None), "max": max(scored, default=None)}
                is_logs = [e for e in state["log_history"] if "sampling/importance_sampling_ratio/mean" in e]
                if is_logs:
                    result["is_ratio_mean"] = round(is_logs[-1]["sampling/importance_sampling_ratio/mean"], 4)
            ok = summary.steps == 2 and (what == "sft" or bool(scored))
            result["ok"] = ok
            if not ok:
                result["error"] = "no completion got a reward: the environment or the judge is not working"
    except Exception as exc:  # one line: which step failed and why; the others still run
        result["error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
stop.set()
result["peak_torch_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
result["peak_device_used_gib"] = round(peak["device_used_gib"], 2)
print("GPU_CHECK " + json.dumps(result), flush=True)
PYEOF

run_step() {  # one step in a fresh process; its GPU_CHECK line, or a crash line
  local step=$1 line
  echo "gpu_check: $step ..." >&2
  line=$(TRL_EXPERIMENTAL_SILENCE=1 "$PY" "$PROG" "$step" "$WORK" 2> "$WORK/$step.log" | grep '^GPU_CHECK ' | tail -1 || true)
  if [[ -z "$line" ]]; then
    line="GPU_CHECK {\"step\": \"$step\", \"ok\": false, \"error\": \"crashed; see $WORK/$step.log\"}"
  fi
  LINES+=("${line#GPU_CHECK }")
  [[ "$line" == *'"ok": true'* ]]
}

LINES=()
run_step preflight || { printf '%s\n' "${LINES[@]}"; fail "the environment is missing or broken (see above)"; }
run_step seed || true
for step in sft grpo step-grpo-trajectory gigpo step-grpo-state; do run_step "$step" || true; done
echo "gpu_check: sign tests ..." >&2
if TRL_EXPERIMENTAL_SILENCE=1 "$PY" -m pytest -q -p no:cacheprovider tests/training/test_sign.py \
    tests/training/test_credit.py tests/training/test_importance.py > "$WORK/sign.log" 2>&1; then
  LINES+=("{\"step\": \"sign\", \"ok\": true, \"summary\": \"$(tail -1 "$WORK/sign.log" | tr -d '"')\"}")
else
  LINES+=("{\"step\": \"sign\", \"ok\": false, \"error\": \"$(tail -1 "$WORK/sign.log" | tr -d '"'); see $WORK/sign.log\"}")
fi
GPU=$(nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | head -1)
STATUS=0
printf '%s\n' "${LINES[@]}" | "$PY" -c '
import json, sys
rows = [json.loads(line) for line in sys.stdin if line.strip()]
ok = all(r.get("ok") for r in rows)
print(json.dumps({"gpu": sys.argv[1], "model_shape": "qwen2.5-0.5b (random init)", "steps": rows, "all_ok": ok},
                 indent=2))
sys.exit(0 if ok else 1)
' "$GPU" || STATUS=1
[[ -n "$KEEP" ]] || rm -rf "$WORK"
exit $STATUS
