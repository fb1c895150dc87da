"""Published WebGen-Bench numbers, as data with their sources, for the reference rows of a comparison.

Copied from the team's notes, which cite the papers: /work/shared/reference/webgen-bench.md §4 (WebGen-Bench
paper v2, Table 3 and Table 4; WebGen-Agent from its abstract) and webgen-r1.md §4.2 (WebGen-R1, Table 1).
Numbers are as printed: rates and accuracy in % of the 647 test cases, appearance and AAS on 0-5, VRR in %.
A cell the paper does not give (or the notes did not recover) is None, never guessed.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

BENCH_TABLE3 = "WebGen-Bench paper v2, Table 3 (webgen-bench.md §4)"
BENCH_TABLE4 = "WebGen-Bench paper v2, Table 4 (webgen-bench.md §4)"
BENCH_TABLE5 = "WebGen-Bench paper v2, Table 5, manual annotation (webgen-bench.md §3.4)"
BENCH_TABLE6 = "WebGen-Bench paper v2, Table 6, WebGen-LM-32B training-set ablation (webgen-bench.md §4)"
#: the setup every published accuracy row was measured with (webgen-bench.md §3.3, §3.5, §3.6)
PUBLISHED_GUI_MODEL = "Qwen2.5-VL-32B-Instruct"
PUBLISHED_JUDGE_MODEL = "GPT-4o"
AGENT_ABSTRACT = (
    "WebGen-Agent paper, arXiv 2509.22644, abstract (webgen-bench.md §4; checked against the abstract on the "
    "arXiv HTML page, v1, and its markdown mirror)"
)
R1_TABLE = "WebGen-R1, arXiv 2604.20398 (webgen-r1.md §4.2)"


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


def _bench(
    key: str, framework: str, model: str, cells: tuple[float, ...], categories: tuple[float, ...] = ()
) -> PublishedRow:
    yes, partial, no, start_failed, accuracy, appearance = cells
    names = (
        "Content Presentation",
        "User Interaction",
        "Data Management",
        "Functional Testing",
        "Data Display Testing",
        "Design Validation Testing",
    )
    return PublishedRow(
        key=key,
        label=f"WebGen-Bench paper, {framework} + {model}",
        source=BENCH_TABLE3 + (f"; categories: {BENCH_TABLE4}" if categories else ""),
        yes=yes,
        partial=partial,
        no=no,
        start_failed=start_failed,
        accuracy=accuracy,
        appearance=appearance,
        categories=dict(zip(names, categories, strict=True)) if categories else {},
    )


# webgen-bench.md §4, "Headline numbers (paper v2, Table 3)": Yes, Partial, No, Start failed, Accuracy, Appearance;
# and "Per-category accuracy, Bolt.diy (Table 4)": Content Pres., User Inter., Data Mgmt, Functional, Data
# Display, Design Valid. (Table 4 covers the Bolt.diy rows only).
# fmt: off
PUBLISHED: tuple[PublishedRow, ...] = (
    _bench(
        "bolt-claude-3.5", "Bolt.diy", "Claude-3.5-Sonnet", (22.6, 7.6, 64.1, 5.7, 26.4, 3.0),
        (35.6, 21.2, 26.2, 17.1, 26.3, 52.0),
    ),
    _bench(
        "bolt-deepseek-r1", "Bolt.diy", "DeepSeek-R1", (24.7, 6.2, 64.3, 4.8, 27.8, 2.5),
        (43.7, 20.6, 24.7, 21.1, 29.3, 44.3),
    ),
    _bench(
        "bolt-deepseek-v3", "Bolt.diy", "DeepSeek-V3", (18.5, 4.5, 73.9, 3.1, 20.8, 2.0),
        (37.1, 16.6, 11.2, 10.5, 28.2, 38.1),
    ),
    _bench(
        "bolt-gpt-4o", "Bolt.diy", "GPT-4o", (10.4, 4.8, 64.5, 20.4, 12.8, 1.5),
        (26.4, 5.9, 11.2, 4.7, 19.6, 24.6),
    ),
    _bench(
        "bolt-o3-mini", "Bolt.diy", "o3-mini", (17.9, 3.4, 40.0, 38.6, 19.6, 1.6),
        (28.7, 17.7, 13.4, 11.4, 25.5, 33.6),
    ),
    _bench(
        "bolt-qwen2.5-coder-32b", "Bolt.diy", "Qwen2.5-Coder-32B", (8.2, 2.6, 81.8, 7.4, 9.5, 1.1),
        (17.5, 6.9, 5.9, 1.9, 14.5, 23.0),
    ),
    _bench(
        "bolt-qwen2.5-72b", "Bolt.diy", "Qwen2.5-72B-Instruct", (12.1, 3.6, 80.7, 3.7, 13.8, 1.4),
        (28.2, 10.1, 5.6, 5.8, 21.0, 25.4),
    ),
    _bench(
        "bolt-webgen-lm-7b", "Bolt.diy", "WebGen-LM-7B", (24.9, 7.1, 68.0, 0.0, 28.4, 2.5),
        (27.9, 23.8, 38.1, 22.0, 27.7, 47.5),
    ),
    _bench(
        "bolt-webgen-lm-14b", "Bolt.diy", "WebGen-LM-14B", (25.0, 8.7, 66.3, 0.0, 29.4, 2.5),
        (30.2, 27.8, 31.6, 23.6, 26.9, 49.2),
    ),
    _bench(
        "bolt-webgen-lm-32b", "Bolt.diy", "WebGen-LM-32B", (34.2, 8.0, 57.8, 0.0, 38.2, 2.8),
        (46.6, 33.2, 38.8, 29.1, 43.0, 56.1),
    ),
    _bench("openhands-claude-3.5", "OpenHands", "Claude-3.5-Sonnet", (18.1, 8.3, 58.6, 15.0, 22.3, 2.6)),
    _bench("openhands-deepseek-r1", "OpenHands", "DeepSeek-R1", (8.5, 3.4, 60.4, 27.7, 10.2, 1.4)),
    _bench("openhands-deepseek-v3", "OpenHands", "DeepSeek-V3", (7.4, 3.2, 73.9, 15.5, 9.0, 1.5)),
    _bench("aider-claude-3.5", "Aider", "Claude-3.5-Sonnet", (19.9, 5.9, 42.0, 32.1, 22.9, 1.9)),
    _bench("aider-deepseek-r1", "Aider", "DeepSeek-R1", (23.3, 8.7, 44.5, 23.5, 27.7, 2.7)),
    _bench("aider-deepseek-v3", "Aider", "DeepSeek-V3", (12.5, 3.1, 54.3, 30.1, 14.1, 1.2)),
    # webgen-bench.md §4, "Later results on the same benchmark": WebGen-Agent (accuracy and appearance only)
    PublishedRow(
        key="webgen-agent-claude-3.5",
        label="WebGen-Agent paper, Claude-3.5-Sonnet",
        source=AGENT_ABSTRACT,
        accuracy=51.9,
        appearance=3.9,
    ),
    PublishedRow(
        key="webgen-agent-qwen2.5-coder-7b",
        label="WebGen-Agent paper, Qwen2.5-Coder-7B-Instruct (before Step-GRPO)",
        source=AGENT_ABSTRACT,
        accuracy=38.9,
        appearance=3.4,
    ),
    PublishedRow(
        key="webgen-agent-step-grpo-7b",
        label="WebGen-Agent paper, Qwen2.5-Coder-7B-Instruct + Step-GRPO",
        source=AGENT_ABSTRACT,
        accuracy=45.4,
        appearance=3.7,
    ),
    # webgen-r1.md §4.2, "Headline numbers (WebGen-Bench, 101 tasks)": FSR %, AAS, VRR %. FSR is the
    # benchmark's accuracy. AAS cells printed only as "< 3.94" or as a relative gain are left out.
    PublishedRow(key="webgen-r1-7b", label="WebGen-R1 paper, WebGen-R1-7B", source=R1_TABLE, accuracy=29.21,
                 aas=3.94, vrr=95.89, judge_model="GPT-4o-2024-11-20"),
    PublishedRow(key="webgen-r1-qwen2.5-coder-7b", label="WebGen-R1 paper, Qwen2.5-Coder-7B-Instruct (base)",
                 source=R1_TABLE, accuracy=1.59, vrr=30.56),
    PublishedRow(key="webgen-r1-deepseek-r1", label="WebGen-R1 paper, DeepSeek-R1", source=R1_TABLE,
                 accuracy=30.25, vrr=42.86),
    PublishedRow(key="webgen-r1-claude-3.7", label="WebGen-R1 paper, Claude-3.7-Sonnet", source=R1_TABLE,
                 accuracy=57.72, vrr=84.0),
    PublishedRow(key="webgen-r1-gpt-5", label="WebGen-R1 paper, GPT-5", source=R1_TABLE, vrr=90.43),
    # webgen-bench.md §4, "Ablation (Table 6, 32B)": training samples -> Yes rate, Accuracy (Bolt.diy)
    PublishedRow(key="bench-ablation-150", label="WebGen-Bench paper, WebGen-LM-32B on 150 samples",
                 source=BENCH_TABLE6, yes=21.8, accuracy=25.1),
    PublishedRow(key="bench-ablation-300", label="WebGen-Bench paper, WebGen-LM-32B on 300 samples",
                 source=BENCH_TABLE6, yes=28.6, accuracy=31.9),
    PublishedRow(key="bench-ablation-600", label="WebGen-Bench paper, WebGen-LM-32B on 600 samples",
                 source=BENCH_TABLE6, yes=34.2, accuracy=38.2),
    # webgen-bench.md §3.4, Table 5: the same Bolt.diy sites judged by people instead of the GUI agent
    PublishedRow(key="bench-manual-claude-3.5", label="WebGen-Bench paper, Bolt.diy + Claude-3.5-Sonnet, by people",
                 source=BENCH_TABLE5, accuracy=26.0, gui_model="human annotators"),
    PublishedRow(key="bench-manual-deepseek-r1", label="WebGen-Bench paper, Bolt.diy + DeepSeek-R1, by people",
                 source=BENCH_TABLE5, accuracy=30.1, gui_model="human annotators"),
    PublishedRow(key="bench-manual-deepseek-v3", label="WebGen-Bench paper, Bolt.diy + DeepSeek-V3, by people",
                 source=BENCH_TABLE5, accuracy=21.3, gui_model="human annotators"),
)
#: what the notes could not recover, said wherever rows are listed (never filled in by guesswork)
NOT_AVAILABLE = (
    "WebGen-Agent's per-model and ablation tables are not in the verified notes (webgen-agent.md §8: only its "
    "abstract is indexed) and could not be read from the stored arXiv HTML page or its mirror either (only the "
    "opening, through the abstract, came back), so only its abstract's rows are given."
)
# fmt: on

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
    by_key = {row.key: row for row in PUBLISHED}
    if keys is None:
        keys = DEFAULT_REFERENCES
    if list(keys) == ["all"]:
        return list(PUBLISHED)
    unknown = [k for k in keys if k not in by_key]
    if unknown:
        raise ValueError(f"unknown published row {unknown[0]!r}; known: {', '.join(sorted(by_key))}")
    return [by_key[k] for k in keys]
