"""A GUI-testing agent on browser-use: a model drives a local headless Chromium through a served site.

`BrowserUseAgent(endpoint).test(url, instruction)` runs the browser-use `Agent` in its own event loop (in a
worker thread, so it also works under a running loop), offline (no telemetry, extension downloads, judge
call or non-loopback host names), with a fresh temporary profile that is removed afterwards, and always
kills the Chromium it started.  Failures of the model endpoint, of the model's output and of the browser
come back as outcomes, never as exceptions.

Verdict rule: the last YES / PARTIAL / NO word of the agent's `done` text; a `done` without such a word
counts as YES for `success=true` and NO for `success=false`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import math
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from webgen.core.env import apply_offline_env
from webgen.core.settings import ModelEndpoint
from webgen.feedback.browser import CHROMIUM, chromium_args, run_detached
from webgen.feedback.gui.types import GUIOutcome, GUIStep, GUITestResult, verdict_from_text

log = logging.getLogger(__name__)

TASK_TEXT = (
    "{instruction}\n\nTest the website at {url} like a user. "
    "When done, answer with one of YES / PARTIAL / NO and a short reason."
)
#: browser-use's stand-in `done` text when the model twice returned no action: an output failure, not a verdict.
NO_ACTION_TEXT = "No next action returned by LLM!"
#: the error browser-use records when max_steps ran out without a `done`.
OUT_OF_STEPS = "Failed to complete task in maximum steps"
CANCEL_GRACE_S = 15.0
KILL_TIMEOUT_S = 15.0
MAX_VALUE_CHARS = 200


@dataclass
class _Calls:
    """What the model wrapper saw: requests made, and the kind of the last failure (None after a success)."""

    count: int = 0
    answered: int = 0
    last_error: tuple[GUIOutcome, str] | None = None


def _error_kind(error: BaseException) -> GUIOutcome:
    """endpoint_error for transport/HTTP failures, unparsable for answers browser-use could not read."""
    from browser_use.llm.exceptions import ModelOutputTruncatedError
    from openai import APIError
    from pydantic import ValidationError

    unreadable = ModelOutputTruncatedError | ValidationError | json.JSONDecodeError
    if isinstance(error, unreadable) or isinstance(error.__cause__, unreadable):
        return "unparsable"
    if isinstance(error, APIError | TimeoutError | OSError) or isinstance(error.__cause__, APIError):
        return "endpoint_error"  # connection refused, HTTP errors, timeouts
    return "unparsable" if "parse" in str(error).lower() else "endpoint_error"


@functools.cache
def _llm_class() -> type:
    """browser-use's ChatOpenAI, counting requests and classifying failures (imported after the env is set)."""
    apply_offline_env()
    os.environ.setdefault("BROWSER_USE_SETUP_LOGGING", "false")  # else it replaces the root log handlers
    from browser_use import ChatOpenAI
    from browser_use.browser.session import DEFAULT_BROWSER_PROFILE

    with contextlib.suppress(OSError, TypeError):  # made (empty) in /tmp at import; our sessions have their own
        Path(DEFAULT_BROWSER_PROFILE.downloads_path).rmdir()  # type: ignore[arg-type]

    class CountingChatOpenAI(ChatOpenAI):
        calls: _Calls

        async def ainvoke(self, messages: Any, output_format: Any = None, **kwargs: Any) -> Any:
            self.calls.count += 1
            try:
                answer = await super().ainvoke(messages, output_format, **kwargs)
            except asyncio.CancelledError:
                self.calls.last_error = ("endpoint_error", "model request cancelled (timeout)")
                raise
            except Exception as error:
                self.calls.last_error = (_error_kind(error), str(error)[:2000])
                raise
            self.calls.last_error = None
            self.calls.answered += 1
            return answer

    return CountingChatOpenAI


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= MAX_VALUE_CHARS else text[:MAX_VALUE_CHARS] + "..."


def _format_action(action: Any) -> str:
    """ActionModel {'click': {'index': 2}} -> "click(index=2)"; empty values left out, long ones cut."""
    calls = []
    for name, params in action.model_dump(exclude_none=True, mode="json").items():
        args = [f"{k}={_short(v)}" for k, v in (params or {}).items() if v not in ([], {}, "")]
        calls.append(f"{name}({', '.join(args)})")
    return "; ".join(calls)


def _steps(history: Any) -> list[GUIStep]:
    """One GUIStep per history item (step 0 is the initial navigation); screenshots read from disk."""
    steps = []
    for position, item in enumerate(history.history):
        output, thought, action, screenshot = item.model_output, "", "", None
        if output is not None:
            said = [t for t in (output.evaluation_previous_goal, output.next_goal) if t]
            thought = " | ".join(said) or output.thinking or output.memory or ""
            action = "; ".join(_format_action(a) for a in output.action)
        if item.state.screenshot_path:
            with contextlib.suppress(OSError):
                screenshot = Path(item.state.screenshot_path).read_bytes()
        errors = [r.error for r in item.result if r.error]
        number = item.metadata.step_number if item.metadata else position
        url, error = item.state.url or "", errors[0] if errors else None
        steps.append(GUIStep(index=number, thought=thought, action=action, url=url, error=error, screenshot=screenshot))
    return steps


def _kill_leftovers(marker: str) -> None:
    """Kill our descendant processes whose command line names `marker` (the profile), and their children."""
    import psutil

    victims: dict[int, psutil.Process] = {}
    for proc in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.Error):
            if any(marker in arg for arg in proc.cmdline()):
                victims[proc.pid] = proc
                victims.update({child.pid: child for child in proc.children(recursive=True)})
    for proc in victims.values():
        with contextlib.suppress(psutil.Error):
            proc.kill()
    if victims:
        log.warning("killed %d leftover browser process(es)", len(victims))
        psutil.wait_procs(list(victims.values()), timeout=5)


class BrowserUseAgent:
    """GUIAgent on browser-use 0.13 with an OpenAI-compatible endpoint and a local Chromium."""

    def __init__(
        self,
        endpoint: ModelEndpoint,
        *,
        chromium_path: Path = CHROMIUM,
        use_vision: bool = True,
        flash_mode: bool = False,
        viewport: tuple[int, int] = (1024, 768),
        max_failures: int = 3,
    ) -> None:
        self.endpoint = endpoint
        self.chromium_path = chromium_path
        self.use_vision = use_vision
        self.flash_mode = flash_mode
        self.viewport = viewport
        self.max_failures = max_failures

    def test(self, url: str, instruction: str, *, max_steps: int = 15, timeout_s: float = 300.0) -> GUITestResult:
        started = time.monotonic()
        box: dict[str, GUITestResult] = {}

        def failed(error: BaseException) -> None:  # reported as an outcome, never raised
            log.error("browser-use run failed", exc_info=error)
            box.setdefault("result", GUITestResult(outcome="browser_error", error=repr(error)))

        run = functools.partial(self._run, url, instruction, max_steps, timeout_s, box)
        run_detached(
            run, name="webgen-browser-use", wait_s=timeout_s + CANCEL_GRACE_S + KILL_TIMEOUT_S + 30, on_error=failed
        )
        result = box.get("result") or GUITestResult(outcome="timeout", error=f"no result after {timeout_s:g}s")
        result.seconds = round(time.monotonic() - started, 3)
        return result

    async def _run(
        self, url: str, instruction: str, max_steps: int, timeout_s: float, box: dict[str, GUITestResult]
    ) -> None:
        llm_class = _llm_class()
        from browser_use import Agent, BrowserProfile, BrowserSession
        from openai import DefaultAsyncHttpxClient

        endpoint = self.endpoint
        llm = llm_class(
            model=endpoint.model,
            base_url=endpoint.base_url,
            api_key=endpoint.api_key.get_secret_value(),
            timeout=endpoint.timeout_s,
            max_retries=endpoint.max_retries,
            http_client=DefaultAsyncHttpxClient(),  # shared by browser-use's per-call clients; closed below
        )
        llm.calls = _Calls()
        llm_timeout = math.ceil(endpoint.timeout_s * (endpoint.max_retries + 1)) + 5
        workdir = Path(tempfile.mkdtemp(prefix="webgen-gui-"))
        width, height = self.viewport
        profile = BrowserProfile(
            executable_path=str(self.chromium_path),
            headless=True,
            chromium_sandbox=False,
            enable_default_extensions=False,
            user_data_dir=str(workdir / "profile"),
            downloads_path=str(workdir / "downloads"),
            args=chromium_args(),
            window_size={"width": width, "height": height},
            viewport={"width": width, "height": height},
        )
        session = BrowserSession(browser_profile=profile)
        agent: Any = None
        outcome: GUIOutcome | None = None
        error: str | None = None
        try:
            agent = Agent(
                task=TASK_TEXT.format(instruction=instruction.strip(), url=url),
                llm=llm,
                browser_session=session,
                initial_actions=[{"navigate": {"url": url, "new_tab": False}}],
                use_vision=self.use_vision,
                flash_mode=self.flash_mode,
                use_judge=False,
                calculate_cost=False,
                max_failures=self.max_failures,
                llm_timeout=llm_timeout,
                step_timeout=llm_timeout + 60,
                file_system_path=str(workdir / "files"),
                enable_signal_handler=False,
                directly_open_url=False,
            )
            task = asyncio.ensure_future(agent.run(max_steps=max_steps))
            done, _ = await asyncio.wait({task}, timeout=timeout_s)
            if not done:
                task.cancel()
                await asyncio.wait({task}, timeout=CANCEL_GRACE_S)
                outcome, error = "timeout", f"the GUI test ran past {timeout_s:g}s"
            elif task.exception() is not None:
                outcome, error = "browser_error", f"{type(task.exception()).__name__}: {task.exception()}"
            box["result"] = self._result(agent.history, llm.calls, outcome, error)
        except Exception as failure:  # Agent() or the browser profile refused to start
            log.exception("browser-use agent could not run")
            box["result"] = GUITestResult(
                outcome="browser_error", error=f"{type(failure).__name__}: {failure}", model_calls=llm.calls.count
            )
        finally:
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(session.kill(), KILL_TIMEOUT_S)
            with contextlib.suppress(BaseException):
                await llm.http_client.aclose()
            _kill_leftovers(str(workdir))
            shutil.rmtree(workdir, ignore_errors=True)
            if agent is not None:
                shutil.rmtree(agent.agent_directory, ignore_errors=True)

    @staticmethod
    def _result(history: Any, calls: _Calls, outcome: GUIOutcome | None, error: str | None) -> GUITestResult:
        steps = _steps(history)
        result = GUITestResult(outcome="ok", steps=steps, model_calls=calls.count)
        if outcome is not None:
            result.outcome, result.error = outcome, error
            return result
        if history.is_done():
            answer = history.final_result() or ""
            if answer.strip() == NO_ACTION_TEXT:
                result.outcome, result.error = "unparsable", "the model returned no action"
                return result
            result.answer = answer
            result.verdict = verdict_from_text(answer)
            if result.verdict is None and history.is_successful() is not None:
                result.verdict = "YES" if history.is_successful() else "NO"
            return result
        errors = [e for e in history.errors() if e]
        ran_out = bool(errors) and errors[-1].startswith(OUT_OF_STEPS)
        if calls.last_error is not None and not (ran_out and calls.answered):
            result.outcome, result.error = calls.last_error  # every call failed, or the failures stopped the run
        else:
            result.outcome, result.error = "no_answer", errors[-1] if errors else "the agent did not finish"
        return result
