"""The settings panel: endpoint and model of each role, max steps, and `webgen doctor`'s check of everything.

Keys never appear here: they come only from the environment (``WEBGEN_<ROLE>__API_KEY``).
"""

from __future__ import annotations

from typing import Any

import gradio as gr

from webgen.core.settings import Settings
from webgen.feedback.doctor import ROLES, diagnose


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


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "/")


def check_endpoints(settings: Settings) -> str:
    """`webgen doctor`'s checks with this session's settings, as a table: the environment, then each role."""
    rows = ["| check | status | detail | fix |", "|---|---|---|---|"]
    for finding in diagnose(settings):
        status = "down" if finding.down else finding.status
        mark = {"ok": "✅", "warn": "⚠", "fail": "❌", "down": "❌"}[status]
        rows.append(f"| {finding.name} | {mark} {status} | {_cell(finding.detail)} | {_cell(finding.fix)} |")
    return "\n".join(rows)
