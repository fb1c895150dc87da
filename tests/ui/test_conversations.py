"""Conversations in the store (no browser): only labelled runs are listed, newest first, one entry per chat."""

from __future__ import annotations

from pathlib import Path

from webgen.storage.conversations import conversation_of, conversation_runs, labels, list_conversations
from webgen.storage.store import TrajectoryStore
from webgen.storage.values import TaskIn


def test_conversations_list_only_labelled_runs_grouped_newest_first(tmp_path: Path) -> None:
    with TrajectoryStore(f"sqlite:///{tmp_path / 'w.db'}") as store:
        task = store.ensure_task(TaskIn(source="adhoc", external_id="t", instruction="A bakery"))
        store.start_run(task.id, "agent", config={"agent": {}})  # the CLI's run: never listed
        a1 = store.start_run(task.id, "agent", config={**labels("chat-a", "A bakery"), "agent": {}})
        b1 = store.start_run(task.id, "agent", config=labels("chat-b", "  A   very\nlong request " * 20))
        a2 = store.start_run(task.id, "agent", config=labels("chat-a", "A bakery"))
        store.finish_run(a2, "cancelled")
        found = list_conversations(store)
        assert [c.id for c in found] == ["chat-a", "chat-b"]
        assert (found[0].title, found[0].runs, found[0].status) == ("A bakery", 2, "cancelled")
        assert found[1].title.startswith("A very long request A very") and len(found[1].title) <= 120
        assert found[1].title.endswith("…") and "\n" not in found[1].title
        assert [r.id for r in conversation_runs(store, "chat-a")] == [a1, a2]
        assert conversation_of(store.get_run(b1)) == "chat-b"
        assert conversation_runs(store, "nope") == []
        assert list_conversations(store, limit=1)[0].id == "chat-a"
