#!/usr/bin/env bash
# GPU check of the trainers: each trainer runs 2 optimizer steps on a randomly initialised model of
# Qwen2.5-0.5B's shape (webgen.training.tiny, shape "0.5b": nothing is downloaded), generating with vLLM
# colocate where the trainer generates (grpo, step-grpo state, step-grpo trajectory; sft has no generation),
# against the real environment (builds, Chromium) with the judge and the GUI agent scripted through the fake
# model server. Prints one JSON object: per trainer, seconds per step (TRL's step_time, and the wall time
# including start-up) and the peak GPU memory (PyTorch's peak, and the device's peak used memory sampled).
#
# Needs: one CUDA GPU, `.venv` with webgen[all,gpu] (vllm), Chromium, Node and the scaffold cache
# (bash scripts/setup.sh). Each trainer runs in a fresh process (one vLLM engine per process).
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

WORK=${KEEP:-$(mktemp -d -t webgen-gpu-check-XXXX)}
mkdir -p "$WORK"
PROG="$WORK/gpu_check_trainer.py"
cat > "$PROG" <<'PYEOF'
"""One trainer, 2 steps, on the 0.5B-shaped model; prints one JSON line."""
import json, sys, threading, time
from pathlib import Path

import torch

trainer_name, work = sys.argv[1], Path(sys.argv[2])
from webgen.agent.fake_server import FakeLLMServer
from webgen.core.env import apply_offline_env
from webgen.core.settings import ModelEndpoint, Settings
from webgen.training.config import GRPOTrainConfig, SFTTrainConfig, StateGRPOConfig, load_config
from webgen.training.tiny import build_tiny_model

apply_offline_env()
model = work / "model-0.5b"
if not (model / "config.json").is_file():
    build_tiny_model(model, shape="0.5b")
verdict = {"has_error": False, "description": "a page", "suggestions": "", "score": 3}
rules = [
    {"model": "judge", "match": "Write the instruction it will follow", "times": -1, "reply": "<test>Open it.</test>"},
    {"model": "judge", "match": "Read the agent's log", "times": -1,
     "reply": 'ok {"test_passed": true, "improvement_suggestions": "", "grade": 4}'},
    {"model": "judge", "times": -1, "reply": {"content": verdict}},
    {"model": "gui", "times": -1, "reply": "Thought: done.\nAction: ANSWER; YES"},
]
peak = {"device_used_gib": 0.0}
stop = threading.Event()

def sample() -> None:
    while not stop.is_set():
        free, total = torch.cuda.mem_get_info()
        peak["device_used_gib"] = max(peak["device_used_gib"], (total - free) / 2**30)
        time.sleep(0.5)

common = {
    "model": str(model), "output_dir": str(work / f"out-{trainer_name}"), "max_steps": 2, "report_to": "none",
    "logging_steps": 1, "save_strategy": "steps", "save_steps": 2, "bf16": True,
    "database_url": f"sqlite:///{work / 'gpu_check.db'}",
}
vllm = {"use_vllm": True, "vllm_mode": "colocate", "vllm_gpu_memory_utilization": 0.35, "vllm_max_model_length": 8192,
        "num_generations": 4, "per_device_train_batch_size": 4, "gradient_accumulation_steps": 1,
        "pool_workers": 4, "eval_timeout_s": 120}
(work / "tasks.jsonl").write_text("".join(
    json.dumps({"id": i, "instruction": text}) + "\n"
    for i, text in enumerate(["A bakery site with a menu", "A portfolio with a contact form"], 1)))
(work / "sft.jsonl").write_text("".join(json.dumps({"messages": [
    {"role": "user", "content": "A bakery site"},
    {"role": "assistant", "content": '<boltArtifact id="s" title="s"><boltAction type="file" filePath="src/App.tsx">'
     'export default function App() { return <main>Bakery</main>; }</boltAction></boltArtifact>'}]}) + "\n"
    for _ in range(8)))

result = {"trainer": trainer_name, "ok": False}
threading.Thread(target=sample, daemon=True).start()
torch.cuda.reset_peak_memory_stats()
started = time.monotonic()
with FakeLLMServer(rules) as server:
    endpoint = ModelEndpoint(base_url=server.base_url, model="judge", timeout_s=60).model_dump()
    gui = ModelEndpoint(base_url=server.base_url, model="gui", timeout_s=60).model_dump()
    settings = Settings().updated(judge=endpoint, gui=gui)
    try:
        if trainer_name == "sft":
            from webgen.training.sft import train
            config = load_config(SFTTrainConfig, None, {**common, "data_file": str(work / "sft.jsonl"),
                                                        "per_device_train_batch_size": 4, "max_length": 1024})
        elif trainer_name == "grpo":
            from webgen.training.grpo import train
            config = load_config(GRPOTrainConfig, None, {**common, **vllm, "tasks_file": str(work / "tasks.jsonl"),
                                                         "max_completion_length": 1024})
        elif trainer_name == "step-grpo-trajectory":
            from webgen.training.trajectory import TrajectoryConfig, train
            config = load_config(TrajectoryConfig, None, {**common, **vllm, "tasks_file": str(work / "tasks.jsonl"),
                                                          "max_turns": 3, "max_turn_tokens": 512,
                                                          "max_context_tokens": 8192, "drop_overlong": False})
        else:
            from webgen.training.state import train
            config = load_config(StateGRPOConfig, None, {**common, **vllm, "include_error_steps": True,
                                                         "max_completion_length": 512})
        summary = train(config, settings)
        state = json.loads((Path(config.output_dir) / "checkpoint-2" / "trainer_state.json").read_text())
        times = [e["step_time"] for e in state["log_history"] if "step_time" in e]
        result.update(ok=True, steps=summary.steps, runs_stored=summary.runs_stored,
                      seconds_per_step=round(sum(times) / len(times), 2) if times else None,
                      wall_s_with_startup=round(time.monotonic() - started, 1))
    except Exception as exc:  # one line: which trainer failed and why; the others still run
        result["error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
stop.set()
result["peak_torch_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
result["peak_device_used_gib"] = round(peak["device_used_gib"], 2)
print("GPU_CHECK " + json.dumps(result), flush=True)
PYEOF

LINES=()
for trainer in sft grpo step-grpo-trajectory step-grpo-state; do
  echo "gpu_check: $trainer ..." >&2
  line=$(TRL_EXPERIMENTAL_SILENCE=1 "$PY" "$PROG" "$trainer" "$WORK" 2> "$WORK/$trainer.log" | grep '^GPU_CHECK ' | tail -1 || true)
  if [[ -z "$line" ]]; then
    line="GPU_CHECK {\"trainer\": \"$trainer\", \"ok\": false, \"error\": \"crashed; see $WORK/$trainer.log\"}"
  fi
  LINES+=("${line#GPU_CHECK }")
done
GPU=$(nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | head -1)
printf '%s\n' "${LINES[@]}" | "$PY" -c '
import json, sys
rows = [json.loads(line) for line in sys.stdin if line.strip()]
print(json.dumps({"gpu": sys.argv[1], "model_shape": "qwen2.5-0.5b (random init)", "trainers": rows,
                  "all_ok": all(r.get("ok") for r in rows)}, indent=2))
' "$GPU"
[[ -n "$KEEP" ]] || rm -rf "$WORK"
