"""A scriptable OpenAI-compatible chat server on loopback, for tests and the offline demo.

It answers ``POST /v1/chat/completions`` from a script of rules (format: :mod:`webgen.agent.fake_script`;
the answers themselves, malformed ones included, are made in :mod:`webgen.agent.fake_replies`).
No fitting rule gives HTTP 418 with a message naming the model and the last user message.  Requests are
recorded (``GET /_fake/requests``, :attr:`FakeLLMServer.requests`); ``POST /_fake/reset`` clears them and
restores every rule's uses.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from webgen.agent.fake_replies import error_response, quiet_drops, reply_response
from webgen.agent.fake_script import (
    Reply,
    Rule,
    ScriptError,
    ScriptSource,
    load_script,
    parse_script,
    rules_from,
)

__all__ = ["FakeLLMServer", "RecordedRequest", "Reply", "Rule", "ScriptError", "load_script", "parse_script", "serve"]

logger = logging.getLogger(__name__)

NO_RULE_STATUS = 418
RECORDED_HEADERS = ("content-type", "user-agent", "x-stainless-retry-count")


class RecordedRequest(BaseModel):
    method: str
    path: str
    model: str | None = None
    messages: list[dict[str, Any]] = Field(default_factory=list)
    response_format: dict[str, Any] | None = None
    stream: bool = False
    params: dict[str, Any] = Field(default_factory=dict)
    headers: dict[str, str] = Field(default_factory=dict)
    rule: int | None = None
    status: int = 200


def message_text(messages: list[Any]) -> str:
    """The text of all messages, image parts left out."""
    pieces: list[str] = []
    for message in messages:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str):
            pieces.append(content)
        elif isinstance(content, list):
            pieces.extend(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    return "\n".join(pieces)


def _last_user_text(messages: list[Any], limit: int = 200) -> str:
    users = [m for m in messages if isinstance(m, dict) and m.get("role") == "user"]
    text = message_text(users[-1:])
    return text if len(text) <= limit else text[:limit] + "..."


class _State:
    """Rules with their remaining uses, and the request log; shared by the server loop and callers."""

    def __init__(self, rules: list[Rule]) -> None:
        self._lock = threading.Lock()
        self.stopping = threading.Event()
        self.reset(rules)

    def reset(self, rules: list[Rule]) -> None:
        with self._lock:
            self.rules = rules
            self.left = [rule.uses for rule in rules]
            self.used = [0 for _ in rules]
            self.log: list[RecordedRequest] = []

    def take(self, model: str, text: str) -> tuple[int, Reply] | None:
        """The first fitting rule with uses left, and its reply for this use."""
        with self._lock:
            for index, rule in enumerate(self.rules):
                if self.left[index] != 0 and rule.fits(model, text):
                    if self.left[index] > 0:
                        self.left[index] -= 1
                    self.used[index] += 1
                    return index, rule.reply_for(self.used[index] - 1)
            return None

    def used_up(self) -> list[int]:
        with self._lock:
            return [index for index, left in enumerate(self.left) if left == 0]

    def record(self, entry: RecordedRequest) -> None:
        with self._lock:
            self.log.append(entry)

    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return [entry.model_copy(deep=True) for entry in self.log]


# --- HTTP -----------------------------------------------------------------------------------------


async def _wait(seconds: float | None, request: Request, stopping: threading.Event) -> bool:
    """Sleep ``seconds`` (None = forever); False if the client left or the server is stopping first."""
    deadline = None if seconds is None else time.monotonic() + seconds
    while deadline is None or time.monotonic() < deadline:
        if stopping.is_set() or await request.is_disconnected():
            return False
        remaining = 0.05 if deadline is None else deadline - time.monotonic()
        await asyncio.sleep(max(0.0, min(0.05, remaining)))
    return True


def _record(state: _State, request: Request, body: dict[str, Any], rule: int | None, status: int) -> None:
    known = {"model", "messages", "response_format", "stream"}
    state.record(
        RecordedRequest(
            method=request.method,
            path=request.url.path,
            model=body.get("model"),
            messages=body.get("messages") or [],
            response_format=body.get("response_format"),
            stream=bool(body.get("stream")),
            params={k: v for k, v in body.items() if k not in known},
            headers={k: request.headers[k] for k in RECORDED_HEADERS if k in request.headers},
            rule=rule,
            status=status,
        )
    )


def create_app(state: _State) -> FastAPI:
    app = FastAPI(title="webgen fake LLM", docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/v1/models")
    async def models(request: Request) -> dict[str, Any]:
        _record(state, request, {}, None, 200)
        names = sorted({rule.model for rule in state.rules if rule.model} or {"fake"})
        return {
            "object": "list",
            "data": [{"id": n, "object": "model", "created": 0, "owned_by": "fake"} for n in names],
        }

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> Response:
        try:
            body = await request.json()
        except ValueError:
            return error_response(400, "request body is not JSON")
        if not isinstance(body, dict):
            return error_response(400, "request body must be a JSON object")
        messages = body.get("messages") if isinstance(body.get("messages"), list) else []
        model, text = str(body.get("model", "")), message_text(messages)
        taken = state.take(model, text)
        if taken is None:
            _record(state, request, body, None, NO_RULE_STATUS)
            excerpt = _last_user_text(messages)
            used = state.used_up()
            message = f"no scripted reply for model={model!r}, last user message {excerpt!r} (used-up rules: {used})"
            logger.warning("fake LLM: %s", message)
            return error_response(NO_RULE_STATUS, message)
        index, reply = taken
        _record(state, request, body, index, reply.status)
        return await _answer(state, request, body, reply, text)

    @app.get("/_fake/requests")
    async def recorded() -> list[dict[str, Any]]:
        return [entry.model_dump(mode="json") for entry in state.requests()]

    @app.post("/_fake/reset")
    async def reset() -> dict[str, Any]:
        state.reset(state.rules)
        return {"rules": len(state.rules)}

    return app


async def _answer(state: _State, request: Request, body: dict[str, Any], reply: Reply, prompt: str) -> Response:
    if reply.hang or reply.delay_s:
        finished = await _wait(None if reply.hang else reply.delay_s, request, state.stopping)
        if not finished:
            return error_response(503, "fake LLM: request abandoned (client left or server stopping)")
    stream_options = body.get("stream_options") or {}
    include_usage = bool(stream_options.get("include_usage")) if isinstance(stream_options, dict) else False
    return reply_response(str(body.get("model", "")), reply, prompt, bool(body.get("stream")), include_usage)


# --- server ---------------------------------------------------------------------------------------


def _loopback_host(host: str) -> str:
    if host == "localhost":
        return "127.0.0.1"
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ValueError(f"the fake LLM server binds only to loopback, not {host!r}")
    return host


class FakeLLMServer:
    """The fake served by uvicorn from a daemon thread; ``with FakeLLMServer(script) as fake: fake.base_url``."""

    def __init__(self, script: ScriptSource, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = _loopback_host(host)
        self._state = _State(rules_from(script))
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        self._socket = socket.socket(family, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind((self.host, port))
        self._socket.listen(128)
        self.port: int = self._socket.getsockname()[1]
        config = uvicorn.Config(
            create_app(self._state), log_level="warning", access_log=False, lifespan="off", timeout_graceful_shutdown=1
        )
        quiet_drops()  # after uvicorn.Config, which configures uvicorn's loggers
        self._server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/v1"

    @property
    def requests(self) -> list[RecordedRequest]:
        return self._state.requests()

    def reset(self, script: ScriptSource | None = None) -> None:
        """Forget recorded requests and restore every rule's uses (or load a new script)."""
        self._state.reset(self._state.rules if script is None else rules_from(script))

    def start(self, timeout_s: float = 10.0) -> FakeLLMServer:
        self._thread = threading.Thread(target=self.serve_forever, name=f"fake-llm-{self.port}", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"fake LLM server on {self.base_url} did not start within {timeout_s:g}s")
            time.sleep(0.01)
        logger.info("fake LLM serving %d rule(s) at %s", len(self._state.rules), self.base_url)
        return self

    def serve_forever(self) -> None:
        """Serve in the calling thread until :meth:`stop` (or, in the main thread, Ctrl-C)."""
        self._server.run(sockets=[self._socket])

    def stop(self) -> None:
        self._state.stopping.set()
        self._server.should_exit = True
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
            if self._thread.is_alive():
                self._server.force_exit = True
                self._thread.join(timeout=2)
        self._socket.close()

    def __enter__(self) -> FakeLLMServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve(
    script_path: Path, port: int, *, host: str = "127.0.0.1", on_ready: Callable[[str], None] | None = None
) -> None:
    """Serve ``script_path`` on ``host:port`` until interrupted (``webgen fake-llm``)."""
    server = FakeLLMServer(script_path, host=host, port=port)
    logger.info("fake LLM serving %s at %s", script_path, server.base_url)
    if on_ready is not None:
        on_ready(server.base_url)
    try:
        server.serve_forever()
    except KeyboardInterrupt:  # uvicorn re-raises the Ctrl-C it handled
        logger.info("fake LLM at %s stopped", server.base_url)
