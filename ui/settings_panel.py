"""The settings panel: endpoint and model of each role, max steps, and a doctor-style check of each endpoint.

Keys never appear here: they come only from the environment (``WEBGEN_<ROLE>__API_KEY``).
"""

from __future__ import annotations

from typing import Any

import gradio as gr
import httpx

from webgen.core.settings import Settings

ROLES = ("coder", "judge", "gui")


def settings_fields(settings: Settings) -> list[Any]:
    """The panel's inputs, in the order `apply_settings` reads them: (base_url, model) per role, max steps."""
    fields: list[Any] = []
    for role in ROLES:
        endpoint = getattr(settings, role)
        with gr.Row():
            fields.append(gr.Textbox(endpoint.base_url, label=f"{role} endpoint", elem_id=f"{role}-url"))
            fields.append(gr.Textbox(endpoint.model, label=f"{role} model", elem_id=f"{role}-model"))
    fields.append(gr.Number(settings.agent.max_steps, label="max steps", precision=0, minimum=1, elem_id="max-steps"))
    return fields


def apply_settings(settings: Settings, values: list[Any]) -> Settings:
    """A copy of `settings` with the panel's values; ValueError on a bad one."""
    update: dict[str, Any] = {}
    for i, role in enumerate(ROLES):
        url, model = str(values[2 * i] or "").strip(), str(values[2 * i + 1] or "").strip()
        if not url.startswith(("http://", "https://")) or not model:
            raise ValueError(f"{role}: give an http(s) endpoint and a model name")
        update[role] = getattr(settings, role).model_copy(update={"base_url": url.rstrip("/"), "model": model})
    max_steps = int(values[-1] or 0)
    if max_steps < 1:
        raise ValueError("max steps must be at least 1")
    update["agent"] = settings.agent.model_copy(update={"max_steps": max_steps})
    return settings.model_copy(update=update)


def _check(url: str, model: str, key: str, timeout_s: float = 3.0) -> tuple[str, str]:
    try:
        response = httpx.get(f"{url.rstrip('/')}/models", headers={"Authorization": f"Bearer {key}"}, timeout=timeout_s)
    except httpx.HTTPError as exc:
        return "fail", f"cannot reach {url}: {type(exc).__name__}; start the server or fix the endpoint"
    if response.status_code >= 400:
        return "fail", f"{url}/models answered HTTP {response.status_code}; check the key in the environment"
    try:
        served = [m.get("id") for m in response.json().get("data", [])]
    except (ValueError, AttributeError):
        return "warn", f"{url}/models did not answer the OpenAI models list"
    if served and model not in served:
        return "warn", f"model {model!r} is not listed (served: {', '.join(map(str, served[:5]))})"
    return "ok", f"{model} at {url}"


def check_endpoints(settings: Settings) -> str:
    rows = ["| role | status | detail |", "|---|---|---|"]
    for role in ROLES:
        endpoint = getattr(settings, role)
        status, detail = _check(endpoint.base_url, endpoint.model, endpoint.api_key.get_secret_value())
        rows.append(f"| {role} | {status} | {detail.replace('|', '/')} |")
    return "\n".join(rows)
