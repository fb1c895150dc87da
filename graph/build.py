"""The LangGraph wiring: nodes and edges only."""

from __future__ import annotations

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph

from webgen.graph import nodes, recording
from webgen.graph.deps import Deps
from webgen.graph.state import AgentState


def build_graph(checkpointer: BaseCheckpointSaver | None = None):
    """generate → apply → execute → judge | gui_test → record → generate | backtrack | select_best."""
    graph = StateGraph(AgentState, context_schema=Deps)
    graph.add_node("generate", nodes.generate)
    graph.add_node("apply", nodes.apply)
    graph.add_node("execute", nodes.execute)
    graph.add_node("judge", nodes.judge)
    graph.add_node("gui_test", nodes.gui_test)
    graph.add_node("record", recording.record)
    graph.add_node("backtrack", recording.backtrack)
    graph.add_node("select_best", recording.select_best)
    graph.add_edge(START, "generate")
    graph.add_edge("generate", "apply")
    graph.add_conditional_edges("apply", nodes.after_apply, ["execute", "gui_test", "record"])
    graph.add_conditional_edges("execute", nodes.after_execute, ["judge", "record"])
    graph.add_edge("judge", "record")
    graph.add_edge("gui_test", "record")
    graph.add_conditional_edges("record", recording.route, ["generate", "backtrack", "select_best"])
    graph.add_edge("backtrack", "generate")
    graph.add_edge("select_best", END)
    return graph.compile(checkpointer=checkpointer)
