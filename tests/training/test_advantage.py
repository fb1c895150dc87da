"""The pure Step-GRPO advantage, checked against numbers worked out by hand."""

from __future__ import annotations

import math

import pytest
import torch

from webgen.training.advantage import FEEDBACK, group_advantages, group_stats, token_advantages


def test_pooled_z_score_over_all_steps_of_a_group() -> None:
    # group 1: R = {4, 9, -1, 2}: mean 3.5, unbiased var (0.25 + 30.25 + 20.25 + 2.25) / 3 = 17.666..., std 4.2032
    # group 2: R = {5, 5, 2}: mean 4, var (1 + 1 + 4) / 2 = 3, std 1.7320508
    rewards = [[4.0, 9.0], [-1.0, 2.0], [5.0], [5.0, 2.0]]
    out = group_advantages(rewards, 2)
    std1 = math.sqrt(53.0 / 3.0)
    assert std1 == pytest.approx(4.2031734)
    assert out[0] == pytest.approx([0.5 / (std1 + 1e-6), 5.5 / (std1 + 1e-6)])
    assert out[1] == pytest.approx([-4.5 / (std1 + 1e-6), -1.5 / (std1 + 1e-6)])
    assert out[0][0] == pytest.approx(0.118957, abs=1e-6)
    assert out[1][0] == pytest.approx(-1.070619, abs=1e-6)
    assert out[2] == pytest.approx([1 / (math.sqrt(3) + 1e-6)])
    assert out[3] == pytest.approx([0.577350, -1.154700], abs=1e-6)


def test_a_single_score_uses_mean_0_std_1_and_unscorable_steps_get_0() -> None:
    assert group_stats([7.0]) == (0.0, 1.0)
    single, empty = group_advantages([[7.0], []], 2)
    assert single == pytest.approx([7.0 / (1 + 1e-6)]) and empty == []
    # None and NaN are left out of the pool and get 0; a group with no score at all gets 0 everywhere
    out = group_advantages([[None, 3.0], [float("nan"), 1.0], [None], [float("nan")]], 2)
    assert out[0] == pytest.approx([0.0, 1 / (math.sqrt(2) + 1e-6)])
    assert out[1] == pytest.approx([0.0, -1 / (math.sqrt(2) + 1e-6)])
    assert out[2:] == [[0.0], [0.0]]
    # equal scores: std 0, so every advantage is 0 (not a division blow-up)
    assert group_advantages([[2.0], [2.0]], 2) == [[0.0], [0.0]]


def test_bad_groupings_are_refused() -> None:
    with pytest.raises(ValueError, match="groups of 2"):
        group_advantages([[1.0]] * 3, 2)
    with pytest.raises(ValueError, match="at least 1"):
        group_advantages([[1.0]], 0)


def test_token_fill_broadcasts_each_step_and_zeroes_feedback_and_padding() -> None:
    ids = [[0, 0, FEEDBACK, FEEDBACK, 1, 1, 1], [0, FEEDBACK]]
    filled = token_advantages(ids, [[0.5, -2.0], [3.0]], length=8)
    expected = torch.tensor([[0.5, 0.5, 0, 0, -2.0, -2.0, -2.0, 0], [3.0, 0, 0, 0, 0, 0, 0, 0]])
    assert filled.shape == (2, 8)
    assert torch.equal(filled, expected)
    with pytest.raises(ValueError, match="no advantage"):
        token_advantages([[0, 2]], [[1.0, 2.0]])
    with pytest.raises(ValueError, match="more than the width"):
        token_advantages([[0, 0, 0]], [[1.0]], length=2)
