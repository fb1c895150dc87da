"""The one vocabulary of step kinds and run statuses, shared by the parser, the loop and the store."""

from __future__ import annotations

from typing import Literal

#: edit: files were written; gui_request: the screenshot_validated marker (a GUI test); finish: the finish
#: marker; invalid: a reply with no usable action (prose, a refusal, unnamed code, a cut-off file, a loop).
StepKind = Literal["edit", "gui_request", "finish", "invalid"]
RunStatus = Literal["running", "finished", "failed", "interrupted", "cancelled"]
