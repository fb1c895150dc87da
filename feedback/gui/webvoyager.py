"""WebVoyager: the set-of-marks GUI agent that WebGen-Bench runs, over Playwright + Debian Chromium.

Each iteration labels the page's interactive elements (``set_of_marks.js``), sends the labelled screenshot and
the element list to a vision model, and executes the single action it answers: ``Click [n]``,
``Type [n]; text``, ``Scroll [n|WINDOW]; up|down``, ``Wait``, ``GoBack`` or ``ANSWER; content``.  The protocol
follows the published benchmark so that scores compare: at most 15 iterations, the last one replaced by a
message asking for a YES / PARTIAL / NO verdict; only the last 3 screenshots kept in context; fixed waits after
actions; format and execution errors fed back to the model as the next observation.

Every test gets its own browser on a private event-loop thread, a fresh context and a hard overall timeout;
requests to anything but loopback are aborted (both from ``feedback/browser.py``).  Prompt text lives in
``prompts/webvoyager_*.j2``.

With a :class:`~webgen.feedback.gui.protocol.GUIProtocol` (``webgen eval``), the benchmark's own settings hold:
its prompt texts, a settle pause after the page is opened, dialogs dismissed, the limit turn restating the
expected result, no wall-clock cap unless one is given, and (``network="open"``) no request guard at all.
Every reply is kept whole (``GUIStep.reply``; the last one is ``GUITestResult.final_message``), since the
benchmark scores the raw last message.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from webgen.core import templates
from webgen.core.llm import BudgetExceeded, LLMClient, LLMError, image_part, text_part
from webgen.feedback.browser import CHROMIUM, chromium_args, launch, loopback_guard, off_loop, run_detached
from webgen.feedback.gui.actions import Action, FormatError, parse_reply
from webgen.feedback.gui.protocol import CREDENTIALS, GUIProtocol, benchmark_task_text
from webgen.feedback.gui.types import GUIOutcome, GUIStep, GUITestResult, verdict_from_text

__all__ = [
    "CREDENTIALS",
    "Action",
    "FormatError",
    "WebVoyagerAgent",
    "benchmark_task_text",
    "parse_reply",
    "score_answer",
]

log = logging.getLogger(__name__)

#: Seconds slept after each action, as the published agent does.
DEFAULT_WAITS: dict[str, float] = {"click": 3.0, "type": 10.0, "scroll": 3.0, "wait": 5.0, "goback": 2.0}
_ACTION_TIMEOUT_MS = 5_000
_LOAD_TIMEOUT_MS = 15_000
_OBSERVE_TIMEOUT_S = 30.0
_CLOSE_TIMEOUT_S = 15.0
_TEXT_INPUTS = {"", "text", "search", "email", "password", "tel", "url", "number"}
_INFO_JS = "el => [el.tagName.toLowerCase(), (el.getAttribute('type') || '').toLowerCase(), el.isContentEditable]"
_SELF_TARGET_JS = "el => { const a = el.closest('a'); if (a) a.target = '_self'; }"


# --- prompts and scoring --------------------------------------------------------------------------


@cache
def _prompts() -> tuple[str, Any]:
    """The system prompt and the task template's macros."""
    return templates.render("webgen.feedback.gui", "webvoyager_system.j2"), templates.macros(
        "webgen.feedback.gui", "webvoyager_task.j2"
    )


def _say(macro: str, *args: Any) -> str:
    return str(getattr(_prompts()[1], macro)(*args)).strip()


def score_answer(verdict: str | None) -> float:
    """The benchmark's score of a verdict: YES 1, PARTIAL 0.5, anything else 0."""
    return {"YES": 1.0, "PARTIAL": 0.5}.get(verdict or "", 0.0)


# --- one test -------------------------------------------------------------------------------------


@dataclass
class _Turn:
    role: Literal["user", "assistant"]
    text: str
    png: bytes | None = None
    head: str = ""  # what is kept of a user turn once its screenshot leaves the context


@dataclass
class _Episode:
    """What a test has produced so far; survives a timeout."""

    steps: list[GUIStep] = field(default_factory=list)
    calls: int = 0
    answer: str | None = None
    final_message: str = ""
    outcome: GUIOutcome | None = None
    error: str | None = None

    def end(self, outcome: GUIOutcome, error: str | None = None) -> None:
        if self.outcome is None:
            self.outcome, self.error = outcome, error

    def result(self, seconds: float) -> GUITestResult:
        verdict = verdict_from_text(self.answer or "")
        outcome = self.outcome or ("no_answer" if self.answer is None else "ok" if verdict else "unparsable")
        return GUITestResult(
            outcome=outcome,
            verdict=verdict,
            answer=self.answer or "",
            final_message=self.final_message,
            steps=list(self.steps),
            error=self.error,
            seconds=seconds,
            model_calls=self.calls,
        )


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return (text.splitlines()[0] if text else type(error).__name__)[:300]


class WebVoyagerAgent:
    """A :class:`~webgen.feedback.gui.types.GUIAgent` that follows the WebVoyager protocol of WebGen-Bench."""

    def __init__(
        self,
        client: LLMClient,
        *,
        chromium_path: Path = CHROMIUM,
        viewport: tuple[int, int] = (1024, 768),
        max_attached_images: int = 3,
        waits: dict[str, float] | None = None,
        max_tokens: int = 1000,
        protocol: GUIProtocol | None = None,
    ) -> None:
        unknown = set(waits or {}) - set(DEFAULT_WAITS)
        if unknown:
            raise ValueError(f"unknown waits {sorted(unknown)}; known: {sorted(DEFAULT_WAITS)}")
        self.client = client
        self.chromium_path = chromium_path
        self.viewport = viewport
        self.max_attached_images = max_attached_images
        self.waits = {**DEFAULT_WAITS, **(waits or {})}
        self.max_tokens = max_tokens
        self.protocol = protocol  # None: the agent loop's own use (no settle pause, dialogs accepted, loopback)
        self._js = (resources.files("webgen.feedback.gui") / "set_of_marks.js").read_text(encoding="utf-8")

    def test(
        self,
        url: str,
        instruction: str,
        *,
        max_steps: int = 15,
        timeout_s: float | None = 300.0,
        expected_result: str | None = None,
    ) -> GUITestResult:
        """Let the model use the site at ``url`` to test ``instruction``; never raises for site or model failures.
        `timeout_s` None: no wall-clock cap (each step is still bounded: the model call, the page, the actions).
        With a protocol and `expected_result`, the limit turn restates it (the benchmark's limit prompt)."""
        if max_steps < 1:
            raise ValueError("max_steps must be at least 1")
        started, episode = time.monotonic(), _Episode()
        limit = (
            self.protocol.limit_text(expected_result)
            if self.protocol is not None and expected_result is not None
            else _say("limit", instruction)
        )

        def failed(exc: BaseException) -> None:  # a bug of ours must not escape as a site failure either
            log.error("WebVoyager test of %s failed", url, exc_info=exc)
            episode.end("browser_error", _first_line(exc))

        run = functools.partial(self._run, episode, url, instruction, limit, max_steps, timeout_s)
        wait_s = None if timeout_s is None else timeout_s + 2 * _CLOSE_TIMEOUT_S
        if not run_detached(run, name="webvoyager", wait_s=wait_s, on_error=failed):  # type: ignore[arg-type]
            episode.end("timeout", f"the test did not finish within {timeout_s:g}s (browser did not close)")
        result = episode.result(time.monotonic() - started)
        log.info("WebVoyager %s: %s %s after %d call(s)", url, result.outcome, result.verdict, result.model_calls)
        return result

    # -- browser ---------------------------------------------------------------------------------
    async def _run(
        self, ep: _Episode, url: str, instruction: str, limit: str, max_steps: int, timeout_s: float | None
    ) -> None:
        scope = asyncio.timeout(timeout_s)
        try:
            async with scope:
                await self._session(ep, url, instruction, limit, max_steps)
        except Exception as exc:  # the model's failures, else the browser's: launch, a crashed or hung page
            if isinstance(exc, TimeoutError) and scope.expired():
                ep.end("timeout", f"the test did not finish within {timeout_s:g}s")
            else:
                budget = isinstance(exc, BudgetExceeded)
                ep.end(
                    "budget" if budget else "endpoint_error" if isinstance(exc, LLMError) else "browser_error",
                    _first_line(exc),
                )

    async def _session(self, ep: _Episode, url: str, instruction: str, limit: str, max_steps: int) -> None:
        from playwright.async_api import async_playwright  # heavy import, only when a browser is needed

        open_network = self.protocol is not None and self.protocol.network == "open"
        args = [a for a in chromium_args() if not a.startswith("--host-resolver-rules")] if open_network else None
        async with async_playwright() as pw:
            browser = await launch(pw, self.chromium_path, args)
            try:
                width, height = self.viewport
                context = await browser.new_context(
                    viewport={"width": width, "height": height}, service_workers="block"
                )
                if not open_network:
                    await context.route("**/*", loopback_guard)
                await self._drive(await context.new_page(), ep, url, instruction, limit, max_steps)
            finally:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(browser.close(), _CLOSE_TIMEOUT_S)

    # -- the loop --------------------------------------------------------------------------------
    async def _drive(self, page: Any, ep: _Episode, url: str, instruction: str, limit: str, max_steps: int) -> None:
        notes: list[str] = []
        dismiss = self.protocol is not None and self.protocol.dialogs == "dismiss"

        async def on_dialog(dialog: Any) -> None:
            done = "dismissed" if dismiss else "accepted"
            notes.append(f"The page showed a {dialog.type} dialog saying {dialog.message[:200]!r}; it was {done}.")
            with contextlib.suppress(Exception):
                await (dialog.dismiss() if dismiss else dialog.accept())

        page.on("dialog", on_dialog)
        try:
            await page.goto(url, wait_until="load", timeout=_LOAD_TIMEOUT_MS)
        except Exception as exc:  # the agent sees the error page, as a visitor would
            log.warning("WebVoyager: %s did not load: %s", url, _first_line(exc))
        if self.protocol is not None and self.protocol.settle_s > 0:  # the published agent pauses before looking
            await asyncio.sleep(self.protocol.settle_s)
        turns: list[_Turn] = []
        feedback, png = "", None
        for step in range(1, max_steps + 1):
            head = _say("task", instruction, url) + "\n" if step == 1 else ""
            if step == max_steps:
                turns.append(_Turn("user", head + limit))
            elif feedback:
                turns.append(_Turn("user", feedback))
            else:
                try:
                    elements, png = await self._observe(page)
                    seen = _say("observation", elements, " ".join(notes))
                except TimeoutError:  # a frozen page is what a visitor would see: say so and let the model judge
                    png, seen = None, _say("unresponsive", _OBSERVE_TIMEOUT_S)
                turns.append(_Turn("user", head + seen, png, head))
                notes.clear()
            feedback = ""
            reply = await self._ask(ep, turns)
            ep.final_message = reply
            turns.append(_Turn("assistant", reply))
            record = GUIStep(index=step, action=reply.strip()[-200:], url=page.url, screenshot=png, reply=reply)
            ep.steps.append(record)
            try:
                record.thought, action = parse_reply(reply)
            except FormatError as exc:
                record.error = feedback = _say("format_error", str(exc))
                if step == max_steps:  # the limit turn's reply is the verdict, in whatever form it came
                    ep.answer = reply.strip()
                continue
            record.action = action.source
            log.info("WebVoyager step %d: %s", step, record.action)
            if action.kind == "answer":
                ep.answer = action.text
                return
            if step < max_steps:
                feedback = await self._try(page, action, record, notes)

    async def _ask(self, ep: _Episode, turns: list[_Turn]) -> str:
        ep.calls += 1
        completion = await off_loop(self.client.complete, self._messages(turns), max_tokens=self.max_tokens)
        return completion.text

    def _messages(self, turns: list[_Turn]) -> list[dict[str, Any]]:
        """The context: older screenshots beyond ``max_attached_images`` are replaced by a note."""
        with_images = [i for i, turn in enumerate(turns) if turn.png is not None]
        keep = set(with_images[max(0, len(with_images) - self.max_attached_images) :])
        system = self.protocol.system() if self.protocol is not None else _prompts()[0]
        messages: list[dict[str, Any]] = [{"role": "system", "content": system}]
        for index, turn in enumerate(turns):
            if turn.png is None:
                messages.append({"role": turn.role, "content": turn.text})
            elif index in keep:
                messages.append({"role": turn.role, "content": [text_part(turn.text), image_part(turn.png)]})
            else:
                messages.append({"role": turn.role, "content": turn.head + _say("omitted")})
        return messages

    async def _observe(self, page: Any) -> tuple[str, bytes]:
        """The labelled element list and screenshot (overlay removed again); TimeoutError if the page hangs."""

        async def look() -> tuple[str, bytes]:
            with contextlib.suppress(Exception):
                await page.wait_for_load_state("load", timeout=_LOAD_TIMEOUT_MS)
            try:
                lines = await page.evaluate(self._js, {"mode": "mark"})
            except Exception:  # a navigation replaced the document under us: look once more when it has loaded
                await page.wait_for_load_state("load", timeout=_LOAD_TIMEOUT_MS)
                lines = await page.evaluate(self._js, {"mode": "mark"})
            try:
                png = await page.screenshot(type="png", timeout=_LOAD_TIMEOUT_MS)
            finally:
                with contextlib.suppress(Exception):
                    await page.evaluate(self._js, {"mode": "unmark"})
            return "\n".join(lines), png

        return await asyncio.wait_for(look(), _OBSERVE_TIMEOUT_S)

    # -- actions ---------------------------------------------------------------------------------
    async def _try(self, page: Any, action: Action, record: GUIStep, notes: list[str]) -> str:
        """Execute ``action``; the text to feed back when it could not be executed, else ''."""
        from playwright.async_api import Error as PlaywrightError

        try:
            note = await self._act(page, action)
        except (LookupError, PlaywrightError) as exc:
            record.error = _first_line(exc)
            log.info("WebVoyager: %s could not be executed: %s", record.action, record.error)
            return _say("not_executed", record.error.rstrip(".") + ".")
        if note:
            notes.append(note)
        return ""

    async def _act(self, page: Any, action: Action) -> str:
        """Carry out ``action`` and sleep the protocol's wait; returns a note for the next observation."""
        note = ""
        if action.kind == "wait":
            pass
        elif action.kind == "goback":
            await page.go_back(timeout=_LOAD_TIMEOUT_MS)
        elif action.kind == "scroll" and action.label is None:
            delta = self.viewport[1] * 2 // 3
            await page.evaluate("(dy) => window.scrollBy(0, dy)", delta if action.text.lower() == "down" else -delta)
        else:
            element = await self._element(page, action.label)
            if action.kind == "click":
                await element.evaluate(_SELF_TARGET_JS)
                await element.click(timeout=_ACTION_TIMEOUT_MS)
            elif action.kind == "type":
                note = await self._type(page, element, action.text)
            else:
                await self._scroll_element(page, element, action.text)
        await asyncio.sleep(self.waits[action.kind])
        return note

    async def _element(self, page: Any, label: int | None) -> Any:
        handle = await page.evaluate_handle(self._js, {"mode": "element", "index": label})
        element = handle.as_element()
        if element is None:
            raise LookupError(f"there is no element labelled [{label}] on the page.")
        return element

    async def _type(self, page: Any, element: Any, text: str) -> str:
        tag, kind, editable = await element.evaluate(_INFO_JS)
        if tag == "select":  # typing into a drop-down picks the option of that name
            await element.select_option(label=text, timeout=_ACTION_TIMEOUT_MS)
            return ""
        textbox = tag == "textarea" or editable or (tag == "input" and kind in _TEXT_INPUTS)
        await element.click(timeout=_ACTION_TIMEOUT_MS)
        if textbox:
            await element.fill("", timeout=_ACTION_TIMEOUT_MS)
        await page.keyboard.type(text)
        await page.keyboard.press("Enter")
        return "" if textbox else f"Note: the element you typed into may not be a text box (<{tag} type={kind!r}>)."

    async def _scroll_element(self, page: Any, element: Any, direction: str) -> None:
        await element.hover(timeout=_ACTION_TIMEOUT_MS)
        box = await element.bounding_box()
        delta = max(int((box["height"] if box else self.viewport[1]) * 2 / 3), 40)
        await page.mouse.wheel(0, delta if direction.lower() == "down" else -delta)
