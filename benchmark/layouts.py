"""Where other systems leave their sites, mapped to task ids (`webgen eval --sites DIR --layout ...`).

- `by-id`: `DIR/<task id>` (a folder) or `DIR/<task id>.zip`, as WebGen-Bench's own harness names sites;
- `bolt-diy`: Bolt.diy's "Download Code" exports, one `DIR/<task id>.zip` per task as the benchmark's driver saves
  them (its `error-*` files, runs it gave up on, are never taken);
- `openhands`: `DIR/workspace_<i>` folders, `aider`: `DIR/task_<i>` folders, where `<i>` is the 0-based index of
  the task in the task list (the tasks file's order, before `--ids` and `--limit`).

A selected task with nothing in DIR is a site that failed to start (the generator left nothing to start); a DIR
where no entry matches any selected task is bad input: one line naming the layout and what it looked for.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from webgen.benchmark.sites import EvalInputError, SiteSource, folder_sources

Layout = Literal["by-id", "bolt-diy", "openhands", "aider"]
LAYOUTS: tuple[Layout, ...] = ("by-id", "bolt-diy", "openhands", "aider")
_INDEXED = {"openhands": "workspace_", "aider": "task_"}


def layout_sources(root: Path, layout: Layout, order: list[str], wanted: list[str]) -> list[SiteSource]:
    """One site per task id in `wanted`, found in `root` by `layout`; `order` is every task id in list order."""
    root = root.expanduser()
    if not root.is_dir():
        raise EvalInputError(f"no sites folder {root}")
    if layout == "by-id":
        return folder_sources(root, wanted)
    if layout == "bolt-diy":
        found = {t: root / f"{t}.zip" for t in wanted}
        found = {t: p for t, p in found.items() if p.is_file() and not p.is_symlink()}
        looked = f"<id>.zip files, such as {wanted[0]}.zip" if wanted else "<id>.zip files"
    elif layout in _INDEXED:
        prefix = _INDEXED[layout]
        index = {i: task_id for i, task_id in enumerate(order)}
        pattern = re.compile(re.escape(prefix) + r"(\d+)")
        found = {}
        for entry in root.iterdir():
            match = pattern.fullmatch(entry.name)
            if match and entry.is_dir() and not entry.is_symlink() and int(match[1]) in index:
                found[index[int(match[1])]] = entry
        found = {t: p for t, p in found.items() if t in set(wanted)}
        looked = f"{prefix}<i> folders, i the task's 0-based index in the task list"
    else:
        raise EvalInputError(f"unknown layout {layout!r}; use one of {', '.join(LAYOUTS)}")
    if not found:
        raise EvalInputError(
            f"no entry of {root} matches a selected task in the {layout} layout: it looks for {looked}"
        )
    return [
        SiteSource(task_id=t, folder=found[t])
        if t in found
        else SiteSource(task_id=t, problem=f"the {layout} layout has no site for task {t} in {root}")
        for t in wanted
    ]
