"""Values and the protocol every GUI-testing agent shares (browser-use, the WebVoyager protocol)."""

from __future__ import annotations

from typing import Literal, Protocol

from pydantic import BaseModel, Field

Verdict = Literal["YES", "PARTIAL", "NO"]
#: ok: the agent ran and answered; the others say what failed, so "the site is bad" is never confused with them.
GUIOutcome = Literal["ok", "endpoint_error", "unparsable", "browser_error", "timeout", "budget", "no_answer"]


class GUIStep(BaseModel):
    """One agent action and what it observed."""

    index: int
    thought: str = ""
    action: str = Field(description="the action as the agent wrote it, e.g. 'Click [3]' or a browser-use action dict")
    url: str = ""
    error: str | None = Field(default=None, description="why the action could not be executed, if it could not")
    reply: str = Field(default="", description="the model's whole reply, as it came (WebVoyager agent)")
    screenshot: bytes | None = Field(default=None, exclude=True, repr=False)


class GUITestResult(BaseModel):
    """A GUI test of one site: the agent's verdict and transcript; grade and suggestions come from grading."""

    outcome: GUIOutcome
    verdict: Verdict | None = None
    answer: str = Field(default="", description="the agent's final answer text")
    final_message: str = Field(default="", description="the model's last reply, raw (the benchmark scores this)")
    grade: float | None = Field(default=None, description="1-5, from grading the transcript")
    suggestions: str = ""
    steps: list[GUIStep] = Field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0
    model_calls: int = 0

    @property
    def ok(self) -> bool:
        return self.outcome == "ok"

    def transcript(self) -> str:
        """Plain text of the run (thoughts and actions), for grading and for the coder's feedback."""
        lines = []
        for step in self.steps:
            text = f"{step.index}. {step.thought.strip()} -> {step.action}".strip()
            lines.append(text + (f" [failed: {step.error}]" if step.error else ""))
        if self.answer:
            lines.append(f"answer: {self.answer}")
        return "\n".join(lines)


class GUIAgent(Protocol):
    """Use a served site like a person would, to test `instruction`; never raises for site or model failures."""

    def test(self, url: str, instruction: str, *, max_steps: int = 15, timeout_s: float = 300.0) -> GUITestResult: ...


def verdict_from_text(text: str) -> Verdict | None:
    """The benchmark's rule, made stricter: the last YES / PARTIAL / NO word in the final answer."""
    import re

    found = re.findall(r"\b(YES|PARTIAL|NO)\b", text or "")
    return found[-1] if found else None  # type: ignore[return-value]
