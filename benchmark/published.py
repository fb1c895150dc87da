"""Published WebGen-Bench numbers, as data with their sources, for the reference rows of a comparison.

The rows live in ``published.json`` beside this module (package data), copied from the team's notes, which cite
the papers: /work/shared/reference/webgen-bench.md §4 (WebGen-Bench paper v2, Table 3 and Table 4; WebGen-Agent
from its abstract) and webgen-r1.md §4.2 (WebGen-R1, Table 1); each row names its source.
Numbers are as printed: rates and accuracy in % of the 647 test cases, appearance and AAS on 0-5, VRR in %.
A cell the paper does not give (or the notes did not recover) is None, never guessed.
"""

from __future__ import annotations

import functools
import json
from importlib import resources

from pydantic import BaseModel, ConfigDict, Field

#: the setup every published accuracy row was measured with (webgen-bench.md §3.3, §3.5, §3.6)
PUBLISHED_GUI_MODEL = "Qwen2.5-VL-32B-Instruct"
PUBLISHED_JUDGE_MODEL = "GPT-4o"


class PublishedRow(BaseModel):
    """One published result; `label` is how it reads in a table."""

    model_config = ConfigDict(frozen=True)

    key: str
    label: str
    source: str
    yes: float | None = None
    partial: float | None = None
    no: float | None = None
    start_failed: float | None = None
    accuracy: float | None = None  # %, (YES + 0.5 * PARTIAL) / 647
    appearance: float | None = None  # 0-5, GPT-4o judge
    vrr: float | None = None  # %
    aas: float | None = None  # 0-5
    categories: dict[str, float] = Field(default_factory=dict)  # accuracy % per primary category (Table 4)
    gui_model: str | None = PUBLISHED_GUI_MODEL  # who ran the test cases (None: no functional numbers)
    judge_model: str | None = PUBLISHED_JUDGE_MODEL  # who graded appearance / AAS


@functools.cache
def all_rows() -> tuple[PublishedRow, ...]:
    """Every published row, read from ``published.json`` (the data beside this module) on first use."""
    data = json.loads(resources.files("webgen.benchmark").joinpath("published.json").read_text(encoding="utf-8"))
    return tuple(PublishedRow.model_validate(row) for row in data["rows"])


#: what the notes could not recover, said wherever rows are listed (never filled in by guesswork)
NOT_AVAILABLE = (
    "WebGen-Agent's per-model and ablation tables are not in the verified notes (webgen-agent.md §8: only its "
    "abstract is indexed) and could not be read from the stored arXiv HTML page or its mirror either (only the "
    "opening, through the abstract, came back), so only its abstract's rows are given."
)

#: the reference rows a comparison shows unless asked for others
DEFAULT_REFERENCES = (
    "bolt-claude-3.5",
    "bolt-deepseek-r1",
    "bolt-webgen-lm-7b",
    "bolt-webgen-lm-32b",
    "webgen-agent-claude-3.5",
    "webgen-agent-step-grpo-7b",
    "webgen-r1-7b",
    "webgen-r1-qwen2.5-coder-7b",
)


def setup_warnings(config: dict, refs: list[PublishedRow]) -> list[str]:
    """One line per model of a run that differs from the setup the published rows were measured with."""
    lines = []
    gui, judge = str(config.get("gui_model") or ""), str(config.get("judge_model") or "")
    wanted_gui = {r.gui_model for r in refs if r.gui_model == PUBLISHED_GUI_MODEL}
    if wanted_gui and PUBLISHED_GUI_MODEL.lower() not in gui.lower():
        lines.append(
            f"the GUI agent was {gui or 'not recorded'}, not {PUBLISHED_GUI_MODEL} as in the published rows: "
            "accuracies are not directly comparable"
        )
    if any(r.judge_model for r in refs) and not judge.lower().startswith(PUBLISHED_JUDGE_MODEL.lower()):
        lines.append(
            f"the appearance judge was {judge or 'not recorded'}, not {PUBLISHED_JUDGE_MODEL} as in the published "
            "rows: appearance and AAS are not directly comparable"
        )
    return lines


def published(keys: tuple[str, ...] | list[str] | None = None) -> list[PublishedRow]:
    """The published rows for `keys` (in that order), the default selection when None, all for ["all"]."""
    by_key = {row.key: row for row in all_rows()}
    if keys is None:
        keys = DEFAULT_REFERENCES
    if list(keys) == ["all"]:
        return list(all_rows())
    unknown = [k for k in keys if k not in by_key]
    if unknown:
        raise ValueError(f"unknown published row {unknown[0]!r}; known: {', '.join(sorted(by_key))}")
    return [by_key[k] for k in keys]
