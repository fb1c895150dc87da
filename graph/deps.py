"""What the nodes need, injected through LangGraph's runtime context (built by the session, never at import)."""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field
from pathlib import Path

from webgen.core.llm import LLMClient
from webgen.core.settings import Settings
from webgen.feedback.evaluation.evaluator import StepEvaluator
from webgen.feedback.site.environment import SiteEnvironment
from webgen.feedback.site.scaffold import PROTECTED_FILES
from webgen.feedback.site.workspace import Workspace
from webgen.graph.events import RunEvent, Subscriber, publish
from webgen.storage.store import TrajectoryStore


@dataclass
class Deps:
    settings: Settings
    store: TrajectoryStore
    env: SiteEnvironment
    coder: LLMClient
    evaluator: StepEvaluator
    run_dir: Path
    subscribers: list[Subscriber] = field(default_factory=list)
    cancelled: threading.Event = field(default_factory=threading.Event)
    deadline: float = math.inf  # time.monotonic() after which the run stops (agent.run_timeout_s)
    _workspaces: dict[str, Workspace] = field(default_factory=dict)

    def workspace(self, site: str) -> Workspace:
        """One Workspace per site folder (it keeps a stat cache), snapshots in the store's blobs."""
        if site not in self._workspaces:
            self._workspaces[site] = Workspace(Path(site), self.store.blobs, protected=PROTECTED_FILES)
        return self._workspaces[site]

    def message_text(self, ref: str) -> str:
        """The content of one stored message (the loop's state holds only references)."""
        content = self.store.messages([ref])[0].get("content", "")
        return content if isinstance(content, str) else ""

    def emit(self, event: RunEvent) -> None:
        publish(self.subscribers, event)
