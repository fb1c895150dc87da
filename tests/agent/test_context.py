"""The context budget: old feedback goes first, then old replies; the system prompt and the request never."""

from __future__ import annotations

from webgen.agent.context import estimate_tokens, fit_to_budget


def conversation(turns: int, size: int = 4000) -> list[dict]:
    messages = [{"role": "system", "content": "S" * size}, {"role": "user", "content": "R" * size}]
    for i in range(turns):
        messages += [
            {"role": "assistant", "content": f"reply {i} " + "a" * size},
            {"role": "user", "content": f"feedback {i} " + "f" * size},
        ]
    return messages


def total(messages: list[dict]) -> int:
    return sum(estimate_tokens(m) for m in messages)


def test_within_budget_nothing_changes() -> None:
    messages = conversation(2)
    assert fit_to_budget(messages, total(messages)) == messages


def test_old_feedback_is_dropped_first_and_the_head_never() -> None:
    messages = conversation(6)
    budget = total(messages) - 3 * 1000  # room to be made: about three feedback messages
    fitted = fit_to_budget(messages, budget)
    assert total(fitted) <= budget
    assert fitted[:2] == messages[:2]  # system prompt and request untouched
    assert fitted[-2:] == messages[-2:]  # the latest turn untouched
    dropped = [i for i, (a, b) in enumerate(zip(messages, fitted, strict=True)) if a != b]
    assert dropped and all(messages[i]["role"] == "user" for i in dropped)
    assert dropped == sorted(dropped) and dropped[0] == 3  # oldest feedback first
    assert all(m["content"].startswith("reply") for m in fitted if m["role"] == "assistant")


def test_replies_go_only_after_all_old_feedback() -> None:
    messages = conversation(6)
    fitted = fit_to_budget(messages, 6000)
    middle = fitted[2:-2]
    assert all("omitted" in m["content"] for m in middle if m["role"] == "user")
    assert any("omitted" in m["content"] for m in middle if m["role"] == "assistant")
    assert fitted[:2] == messages[:2] and fitted[-2:] == messages[-2:]
    assert messages[3]["content"].startswith("feedback 0")  # the input list is not modified


def test_images_count_towards_the_budget() -> None:
    message = {
        "role": "user",
        "content": [{"type": "text", "text": "x" * 40}, {"type": "image_url", "image_url": {"url": "data:,"}}],
    }
    assert estimate_tokens(message) >= 1000
