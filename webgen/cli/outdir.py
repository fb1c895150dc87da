"""`--out` folders: checked before a run, written only where webgen wrote before, never anything else deleted."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

MARKER = ".webgen-output"
#: what webgen writes in an output folder, and so all it ever replaces there
OWNED = ("site", "screenshots")


class OutDirError(ValueError):
    """The folder cannot take webgen's output; the message says why and what to do."""


def prepare_out(out: Path) -> Path:
    """Make `out` ready before the run: a new or empty folder, or one webgen wrote before (it has the
    marker). Anything else is refused, so `--out .` or `--out ~/project` can never lose a user's files."""
    out = out.expanduser().resolve()
    if out.exists() and not out.is_dir():
        raise OutDirError(f"--out {out} is a file, not a folder; choose a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER).is_file():
        raise OutDirError(
            f"--out {out} is not empty and was not written by webgen; choose a new or empty folder "
            f"(e.g. --out {out / 'webgen-site'})"
        )
    try:
        out.mkdir(parents=True, exist_ok=True)
        (out / MARKER).write_text(json.dumps({"owned": list(OWNED)}) + "\n", encoding="utf-8")
    except OSError as exc:
        raise OutDirError(f"--out {out} cannot be written: {exc.strerror or exc}") from exc
    if not os.access(out, os.W_OK | os.X_OK):
        raise OutDirError(f"--out {out} is not writable")
    return out


def clear_owned(out: Path) -> None:
    """Remove what an earlier webgen export left in `out` (only `site/` and `screenshots/`)."""
    if not (out / MARKER).is_file():
        raise OutDirError(f"{out} has no {MARKER} marker; refusing to delete anything in it")
    for name in OWNED:
        target = out / name
        if target.is_symlink() or target.is_file():
            target.unlink()
        elif target.is_dir():
            shutil.rmtree(target)
