"""Our verdicts in the benchmark's own layout (`webgen eval --export-transcripts DIR`), so that its accuracy script
(`src/ui_test_*/compute_acc.py`) can score them: one folder per test case that ran,
`DIR/extracted/results/task<task id>_<case index>/interact_messages.json`, holding the conversation as a list of
``{"role", "content"}`` messages whose last assistant message is the agent's raw last reply. A case whose site did
not start gets no folder (the benchmark's scorer counts a missing transcript as start failed). Screenshots are
not exported (the scorer never reads them); a user turn says what it held.

Rollout 0 goes to `DIR/extracted/`; further rollouts to `DIR/rollout_<r>/extracted/`, one scorer run each.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from webgen.storage.evals import CaseRecord

__all__ = ["ExportError", "check_export_dir", "export_transcripts", "messages_of"]

_MARKER = ".webgen-transcripts"


class ExportError(ValueError):
    """A folder the transcripts cannot be written to; one line says why."""


def messages_of(case: CaseRecord, system: str) -> list[dict[str, Any]]:
    """The case's conversation in the shape of the benchmark's `interact_messages.json`."""
    messages: list[dict[str, Any]] = [{"role": "system", "content": system}]
    for step in case.transcript:
        index = step.get("index", len(messages))
        note = f"(turn {index}: the observation of {step.get('url') or 'the page'}, a screenshot, not exported)"
        messages.append({"role": "user", "content": note})
        reply = step.get("reply") or f"Thought: {step.get('thought', '')}\nAction: {step.get('action', '')}"
        messages.append({"role": "assistant", "content": reply})
    return messages


def check_export_dir(out: Path) -> Path:
    """`out` resolved, if it is new, empty or an earlier export (checked before an eval runs, and again here)."""
    out = out.expanduser().resolve()
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / _MARKER).is_file())):
        raise ExportError(f"{out} is not empty and holds no earlier export; choose a new or empty folder")
    return out


def export_transcripts(cases: list[CaseRecord], out: Path, *, system: str) -> int:
    """Write the transcripts of `cases` under `out` (new, empty, or an earlier export); returns the folders written."""
    out = check_export_dir(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        for stale in [out / "extracted", *out.glob("rollout_*")]:  # an earlier export's: replaced whole
            shutil.rmtree(stale, ignore_errors=True)
        (out / _MARKER).write_text("webgen eval --export-transcripts\n")
        written = 0
        for case in cases:
            if case.verdict == "START_FAILED":
                continue
            base = out if case.rollout == 0 else out / f"rollout_{case.rollout}"
            folder = base / "extracted" / "results" / f"task{case.task_id}_{case.case_index}"
            folder.mkdir(parents=True, exist_ok=True)
            text = json.dumps(messages_of(case, system), ensure_ascii=False, indent=1)
            (folder / "interact_messages.json").write_text(text + "\n", encoding="utf-8")
            written += 1
    except OSError as exc:
        raise ExportError(f"cannot write the transcripts in {out}: {exc.strerror or exc}") from exc
    return written
