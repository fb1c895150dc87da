"""The WebGen-Bench protocol of a GUI test: the prompt texts and the limits the benchmark's WebVoyager ran with.

:class:`GUIProtocol` is one value: the system prompt, the task text of a test case (task, expected result, how to
test, the three verdicts defined), the text of the last turn when the interaction limit is reached (it restates
the expected result and asks for a verdict), the limits (iterations, screenshots kept in context, window size),
the settle pause after the page is opened, what happens to a dialog, and the network the browser may reach.

By default the texts are ours (``prompts/webgen_bench.j2``, the benchmark's meaning in our words). For exact
reproduction, :func:`load_protocol_dir` reads the three prompt constants from the user's own checkout of the
benchmark's repository; we ship none of its text. The files are parsed (``ast``), never executed:

- ``webvoyager/prompts.py``: ``SYSTEM_PROMPT``;
- ``src/ui_test_webgen/ui_eval_with_answer.py`` (else ``src/ui_test_bolt/...``): ``ui_prompt_template``
  (``{task}``, ``{expected_result}``);
- ``webvoyager/run.py``: ``ui_limit_prompt_template`` (``{expected_result}``).
"""

from __future__ import annotations

import ast
import string
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from webgen.core import templates

__all__ = ["CREDENTIALS", "GUIProtocol", "ProtocolError", "benchmark_task_text", "load_protocol_dir"]

CREDENTIALS = {"username": "admin", "password": "admin123456", "email": "admin@example.com"}
_PACKAGE = "webgen.feedback.gui"
SYSTEM_FILE = "webvoyager/prompts.py"
LIMIT_FILE = "webvoyager/run.py"
TASK_FILES = ("src/ui_test_webgen/ui_eval_with_answer.py", "src/ui_test_bolt/ui_eval_with_answer.py")
_MAX_FILE_BYTES = 1 << 20


class ProtocolError(ValueError):
    """A protocol folder that cannot be used; one line says what and where."""


class GUIProtocol(BaseModel):
    """How a benchmark GUI test is run; the defaults are the published WebGen-Bench settings."""

    model_config = ConfigDict(frozen=True)

    name: str = "webgen-bench"
    source: str = Field(default="ours", description="'ours' (our wording) or the protocol folder the texts came from")
    system_prompt: str | None = Field(default=None, description="None: ours (prompts/webvoyager_system.j2)")
    task_template: str | None = Field(default=None, description="str.format text with {task}, {expected_result}")
    limit_template: str | None = Field(default=None, description="str.format text with {expected_result}")
    max_iter: int = Field(default=15, ge=1, description="model turns; the last one is the limit turn")
    max_attached_images: int = Field(default=3, ge=1, description="screenshots kept in the context")
    viewport: tuple[int, int] = (1024, 768)
    settle_s: float = Field(default=5.0, ge=0, description="pause after opening the page, before the first look")
    dialogs: Literal["accept", "dismiss"] = "dismiss"
    network: Literal["loopback", "open"] = "loopback"
    credentials: bool = Field(default=True, description="our task text gives the login hint (the webgen variant)")

    def system(self) -> str:
        if self.system_prompt is not None:
            return self.system_prompt
        return templates.render(_PACKAGE, "webvoyager_system.j2")

    def task_text(self, task: str, expected_result: str) -> str:
        """The test case as the agent is given it."""
        if self.task_template is not None:
            return self.task_template.format(task=task, expected_result=expected_result)
        return benchmark_task_text(task, expected_result, max_interactions=self.max_iter, credentials=self.credentials)

    def limit_text(self, expected_result: str) -> str:
        """The last turn's text once the interaction limit is reached."""
        if self.limit_template is not None:
            return self.limit_template.format(expected_result=expected_result)
        return str(templates.macros(_PACKAGE, "webgen_bench.j2").limit(expected_result)).strip()

    def describe(self) -> dict[str, object]:
        """What a report says about the protocol (the texts only by where they came from)."""
        return self.model_dump(exclude={"system_prompt", "task_template", "limit_template"})


def benchmark_task_text(
    task: str, expected_result: str, *, max_interactions: int = 15, credentials: bool = True
) -> str:
    """Our wording of the benchmark's test-case text: the task, the expected result, how to test, the login
    hint and the three verdicts with their meanings."""
    creds = CREDENTIALS if credentials else None
    macro = templates.macros(_PACKAGE, "webgen_bench.j2").task
    return str(macro(task, expected_result, max_interactions, creds)).strip()


# --- a user's checkout of the benchmark -----------------------------------------------------------


def _constant(path: Path, name: str) -> str:
    """The string a module assigns to `name` at its top level, read by parsing (never running) the file."""
    try:
        if path.stat().st_size > _MAX_FILE_BYTES:
            raise ProtocolError(f"{path} is larger than {_MAX_FILE_BYTES >> 20} MB; is this the benchmark's checkout?")
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except FileNotFoundError:
        raise ProtocolError(f"no {path}: --protocol-dir must be a checkout of the WebGen-Bench repository") from None
    except (OSError, UnicodeDecodeError, SyntaxError) as exc:
        raise ProtocolError(f"{path} cannot be read as Python: {exc}") from exc
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else []
        if isinstance(node, ast.AnnAssign):
            targets = [node.target]
        if any(isinstance(t, ast.Name) and t.id == name for t in targets):
            value = node.value
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                return value.value
            raise ProtocolError(f"{path}: {name} is not a plain string constant")
    raise ProtocolError(f"{path} defines no {name}")


def _check_fields(text: str, allowed: set[str], where: str) -> str:
    try:
        fields = {f for _, f, _, _ in string.Formatter().parse(text) if f is not None}
    except ValueError as exc:
        raise ProtocolError(f"{where} is not a format template: {exc}") from exc
    unknown = fields - allowed
    if unknown:
        raise ProtocolError(f"{where} uses {{{sorted(unknown)[0]}}}; only {', '.join(sorted(allowed))} are filled in")
    return text


def load_protocol_dir(folder: Path, base: GUIProtocol | None = None) -> GUIProtocol:
    """`base` (default: the published settings) with the three prompt texts of a benchmark checkout."""
    root = Path(folder).expanduser()
    if not root.is_dir():
        raise ProtocolError(f"--protocol-dir {root} is not a folder")
    root = root.resolve()
    task_file = next((root / rel for rel in TASK_FILES if (root / rel).is_file()), root / TASK_FILES[0])
    system = _constant(root / SYSTEM_FILE, "SYSTEM_PROMPT")
    task = _check_fields(
        _constant(task_file, "ui_prompt_template"), {"task", "expected_result"}, f"{task_file}: ui_prompt_template"
    )
    limit = _check_fields(
        _constant(root / LIMIT_FILE, "ui_limit_prompt_template"),
        {"expected_result"},
        f"{root / LIMIT_FILE}: ui_limit_prompt_template",
    )
    return (base or GUIProtocol()).model_copy(
        update={
            "source": f"{root} ({task_file.relative_to(root).as_posix()})",
            "system_prompt": system,
            "task_template": task,
            "limit_template": limit,
        }
    )
