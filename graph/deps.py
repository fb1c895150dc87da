"""What the nodes need, injected through LangGraph's runtime context (built by the caller, never at import)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from webgen.agent.llm import LLMClient
from webgen.feedback.environment import SiteEnvironment
from webgen.feedback.gui_types import GUIAgent
from webgen.feedback.judge import Judge
from webgen.feedback.scaffold import PROTECTED_FILES
from webgen.feedback.workspace import Workspace
from webgen.settings import Settings
from webgen.storage.store import TrajectoryStore


@dataclass
class Deps:
    settings: Settings
    store: TrajectoryStore
    env: SiteEnvironment
    coder: LLMClient
    judge: Judge
    gui_agent: GUIAgent
    feedback_llm: LLMClient  # derives GUI test instructions and grades GUI transcripts
    run_dir: Path
    on_event: Callable[[dict[str, Any]], None] | None = None
    deadline: float = math.inf  # time.monotonic() after which the run stops (agent.run_timeout_s)
    _workspaces: dict[str, Workspace] = field(default_factory=dict)

    def workspace(self, site: str) -> Workspace:
        """One Workspace per site folder (it keeps a stat cache), snapshots in the store."""
        if site not in self._workspaces:
            self._workspaces[site] = self.store.workspace(Path(site), protected=PROTECTED_FILES)
        return self._workspaces[site]

    def message_text(self, ref: str) -> str:
        """The content of one stored message (the loop's state holds only references)."""
        content = self.store.messages([ref])[0].get("content", "")
        return content if isinstance(content, str) else ""

    def emit(self, event: str, **data: Any) -> None:
        if self.on_event is not None:
            self.on_event({"event": event, **data})
