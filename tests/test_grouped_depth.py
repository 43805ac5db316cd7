"""A channel left out of the sum in some groups only is `depth_sum` (harness.explaining.families
fits the channel weights output by output when no single set fits every output), forward and
grad_input."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from harness.cases import case_from_dict
from harness.cases.data import materialize
from harness.explaining.explanation import explain_output
from harness.verdicts.baseline import compute_baseline


def _ints(shape, seed):
    return {"shape": shape, "init": "integers", "low": -3, "high": 4, "seed": seed}


def _case(rank: int):
    spatial = [7, 6, 5][:rank]
    kernel = [3, 2, 2][:rank]
    return case_from_dict(
        {
            "id": f"grouped_depth_{rank}d",
            "op": f"conv{rank}d",
            "input": {
                "shape": [2, 6, *spatial],
                "init": "integers",
                "low": -3,
                "high": 4,
                "seed": 5,
            },
            "weight": {
                "shape": [4, 3, *kernel],
                "init": "integers",
                "low": -3,
                "high": 4,
                "seed": 6,
            },
            "groups": 2,
        },
        source="<test>",
    )


@pytest.mark.parametrize("rank", [1, 2, 3])
def test_a_channel_dropped_in_the_last_group_only_is_depth_sum(rank):
    case = _case(rank)
    arrays = materialize(case)
    w = torch.from_numpy(arrays.weight64.copy())
    w[2:, 1] = (
        0  # the second group's outputs skip its middle input channel; the first group sums all
    )
    conv = getattr(F, f"conv{rank}d")
    output = conv(torch.from_numpy(arrays.input64), w, None, 1, 0, 1, 2).numpy()
    baseline = compute_baseline(case, arrays)
    assert not np.allclose(output, baseline.output)
    explanation = explain_output(case, arrays, output, baseline)
    assert explanation.causes == ["depth_sum"], explanation.findings


def test_noise_is_not_fitted_output_by_output():
    case = _case(2)
    arrays = materialize(case)
    baseline = compute_baseline(case, arrays)
    noisy = baseline.output + np.random.default_rng(0).normal(0, 3, baseline.output.shape)
    assert explain_output(case, arrays, noisy, baseline).causes == ["unknown"]
