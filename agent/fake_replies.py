"""The fake LLM server's answers: a scripted :class:`~webgen.agent.fake_script.Reply` as an HTTP response.

A completion (JSON, or SSE chunks when the request streams), an OpenAI-style error body, or a raw body;
then cut short (``truncate``) or with the connection closed mid-body (``drop_connection``).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi.responses import JSONResponse, Response, StreamingResponse

from webgen.agent.fake_script import Reply, ScriptedUsage

__all__ = ["error_response", "quiet_drops", "reply_response"]

logger = logging.getLogger(__name__)


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(_error_body(status, message), status_code=status, headers=headers)


def _error_body(status: int, message: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": "fake_llm_error", "code": status}}


def reply_response(model: str, reply: Reply, prompt: str, stream: bool, include_usage: bool) -> Response:
    """The HTTP answer for ``reply`` to a request for ``model`` whose message text is ``prompt``."""
    raw = reply.raw_body()
    if raw is None and reply.status >= 400:
        raw = json.dumps(_error_body(reply.status, reply.text() or f"scripted HTTP {reply.status}")).encode()
    usage = _usage(reply, prompt, reply.text() or "")
    if raw is None and stream:
        chunks = _sse(model, reply, usage, include_usage)
        return StreamingResponse(chunks, media_type="text/event-stream", headers=reply.headers)
    if raw is None:
        raw = json.dumps(_completion(model, reply, usage)).encode()  # ASCII: a lone surrogate stays an escape
    return _send(raw, reply)


def _usage(reply: Reply, prompt: str, content: str) -> dict[str, int] | None:
    if reply.usage is False:
        return None
    usage = reply.usage or ScriptedUsage(prompt_tokens=len(prompt) // 4, completion_tokens=len(content) // 4)
    return {**usage.model_dump(), "total_tokens": usage.prompt_tokens + usage.completion_tokens}


def _completion(model: str, reply: Reply, usage: dict[str, int] | None) -> dict[str, Any]:
    message = {"role": "assistant", "content": reply.text()}
    choice = {"index": 0, "message": message, "finish_reason": reply.finish_reason, "logprobs": None}
    body: dict[str, Any] = {
        "id": f"chatcmpl-fake-{time.monotonic_ns()}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [choice],
    }
    if usage is not None:
        body["usage"] = usage
    return body


async def _sse(model: str, reply: Reply, usage: dict[str, int] | None, include_usage: bool) -> AsyncIterator[str]:
    base = {"id": f"chatcmpl-fake-{time.monotonic_ns()}", "object": "chat.completion.chunk", "model": model}
    base |= {"created": int(time.time())}
    content = reply.text() or ""
    deltas: list[dict[str, Any]] = [{"role": "assistant", "content": ""}]
    deltas += [{"content": content[i : i + 16]} for i in range(0, len(content), 16)]
    for delta in deltas:
        yield "data: " + json.dumps({**base, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}) + "\n\n"
    final = {"index": 0, "delta": {}, "finish_reason": reply.finish_reason}
    yield "data: " + json.dumps({**base, "choices": [final]}) + "\n\n"
    if include_usage and usage is not None:
        yield "data: " + json.dumps({**base, "choices": [], "usage": usage}) + "\n\n"
    yield "data: [DONE]\n\n"


def _send(body: bytes, reply: Reply) -> Response:
    """``body`` with the reply's status and headers, cut (``truncate``) or dropped (``drop_connection``)."""
    headers = {k: v for k, v in reply.headers.items() if reply.content_type is None or k.lower() != "content-type"}
    if not any(k.lower() == "content-type" for k in headers):
        headers["content-type"] = reply.content_type or "application/json"
    if reply.drop_connection:
        headers = {k: v for k, v in headers.items() if k.lower() != "content-length"}
        headers["content-length"] = str(len(body))
        sent = body[: reply.truncate or 0]
        logger.info("fake LLM: closing the connection after %d of %d body bytes", len(sent), len(body))
        return StreamingResponse(_then_drop(sent), status_code=reply.status, headers=headers)
    if reply.truncate is not None:
        body = body[: reply.truncate]
    return Response(body, status_code=reply.status, headers=headers)


class _DropConnection(Exception):
    """Raised mid-body on purpose: the ASGI server then closes the connection (``drop_connection``)."""


async def _then_drop(sent: bytes) -> AsyncIterator[bytes]:
    if sent:
        yield sent
    raise _DropConnection("fake LLM: scripted drop_connection")


def _is_drop(error: BaseException | None) -> bool:
    if isinstance(error, _DropConnection):
        return True
    if isinstance(error, BaseExceptionGroup):
        return any(_is_drop(inner) for inner in error.exceptions)
    return False


class _QuietDrops(logging.Filter):
    """Keeps uvicorn from logging a scripted connection drop as an application error."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and _is_drop(record.exc_info[1]))


def quiet_drops() -> None:
    uvicorn_errors = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _QuietDrops) for f in uvicorn_errors.filters):
        uvicorn_errors.addFilter(_QuietDrops())
