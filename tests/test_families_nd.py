"""Bug families and variant rows in 1-D and 3-D: a bug planted on one axis (a small torch function
here) is explained with its cause and a finding that names that axis; the variant rows of a
conv1d and a conv3d case have the statuses their configurations call for."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from harness.cases import case_from_dict
from harness.cases.data import materialize
from harness.computations import reference
from harness.explaining.explanation import explain_divergence, explain_output
from harness.explaining.mutations import MUTATIONS, mutated_output
from harness.explaining.orientations import orient, orientations
from harness.running.variants import variant_records
from harness.verdicts.baseline import compute_baseline

CONV1D = {
    "id": "nd_1d",
    "op": "conv1d",
    "dtype": "float64",
    "stride": 2,
    "dilation": 2,
    "padding": 2,
    "groups": 2,
    "input": {"shape": [2, 4, 23], "init": "normal", "seed": 1},
    "weight": {"shape": [4, 2, 3], "init": "normal", "seed": 2},
    "bias": {"shape": [4], "init": "normal", "seed": 3},
}

CONV3D = {
    "id": "nd_3d",
    "op": "conv3d",
    "dtype": "float64",
    "stride": [1, 2, 1],
    "dilation": [2, 1, 2],
    "padding": [2, 1, 2],
    "groups": 2,
    "input": {"shape": [1, 4, 7, 8, 9], "init": "normal", "seed": 4},
    "weight": {"shape": [4, 2, 3, 3, 3], "init": "normal", "seed": 5},
    "bias": {"shape": [4], "init": "normal", "seed": 6},
}

CONV = {1: F.conv1d, 3: F.conv3d}


def planted(raw: dict, bug):
    """The case's output by torch with a bug planted: bug(conv, x, w, b, args) calls conv
    (torch's conv1d or conv3d) its own way; args are the case's stride, padding, dilation and
    groups as torch takes them."""
    case = case_from_dict(raw)
    arrays = materialize(case)
    x, w, b = (torch.tensor(a) for a in (arrays.input64, arrays.weight64, arrays.bias64))
    args = {
        "stride": case.stride,
        "padding": tuple(case.pads[0::2]),
        "dilation": case.dilation,
        "groups": case.groups,
    }
    return case, arrays, bug(CONV[case.rank], x, w, b, args).numpy()


def explained(case, arrays, output, prepadded=False):
    baseline = compute_baseline(case, arrays)
    cause = explain_divergence(case, arrays, output, baseline, prepadded=prepadded)
    return cause, " | ".join(explain_output(case, arrays, output, baseline, prepadded).findings)


def _with(args: dict, axis: int | None = None, **changed) -> dict:
    """The call's arguments with some replaced; with `axis`, only that axis's entry of each."""
    result = dict(args)
    for name, value in changed.items():
        if axis is None:
            result[name] = value
        else:
            per_axis = list(result[name])
            per_axis[axis] = value
            result[name] = tuple(per_axis)
    return result


def _torch_pads(rank: int, axis: int, before: int, after: int) -> list[int]:
    """F.pad's amounts (last axis first) padding one axis only."""
    pads = [0] * (2 * rank)
    pads[2 * (rank - 1 - axis)] = before
    pads[2 * (rank - 1 - axis) + 1] = after
    return pads


def flipped(*axes):
    return lambda conv, x, w, b, args: conv(x, w.flip([2 + a for a in axes]), b, **args)


def permuted(*perm):
    return lambda conv, x, w, b, args: conv(x, w.permute(0, 1, *(2 + a for a in perm)), b, **args)


def phase_offset(axis: int):
    """Outputs sampled at i*s + 1 on one axis: that axis padded, read from 1, zeros past its end."""

    def bug(conv, x, w, b, args):
        rank = x.ndim - 2
        before = args["padding"][axis]
        x = F.pad(x, _torch_pads(rank, axis, before, before))
        index = [slice(None)] * x.ndim
        index[2 + axis] = slice(1, None)
        x = F.pad(x[tuple(index)], _torch_pads(rank, axis, 0, 1))
        return conv(x, w, b, **_with(args, axis, padding=0))

    return bug


def dilation_ignored(axis: int):
    return lambda conv, x, w, b, args: conv(x, w, b, **_with(args, axis, dilation=1))


def one_more_before(axis: int):
    def bug(conv, x, w, b, args):
        return conv(F.pad(x, _torch_pads(x.ndim - 2, axis, 1, 0)), w, b, **args)

    return bug


def groups_interleaved(conv, x, w, b, args):
    """Output channel o reads group o % groups (C_out 4, groups 2: outputs 0, 2 from group 0)."""
    order = [0, 2, 1, 3]
    return conv(x, w[order], b[order], **args)[:, np.argsort(order)]


def bias_missing(conv, x, w, b, args):
    return conv(x, w, None, **args)


def depth_mean(conv, x, w, b, args):
    return conv(x, w / w.shape[1], b, **args)


def flipped_without_bias(axis: int):
    return lambda conv, x, w, b, args: conv(x, w.flip(2 + axis), None, **args)


ONE_D = {
    "flip": (flipped(0), "kernel_flip", "kernel flipped along L (true convolution)"),
    "phase": (phase_offset(0), "stride", "outputs sampled at i*s + 1 instead of i*s on L"),
    "dilation_ignored": (dilation_ignored(0), "dilation", "dilation ignored (taps adjacent) on L"),
    "one_more_before": (one_more_before(0), "padding", ": L one more before"),
    "groups_interleaved": (groups_interleaved, "groups", "o % groups"),
    "bias_missing": (bias_missing, "bias", "bias not added"),
    "depth_mean": (depth_mean, "depth_sum", "averages the input channels"),
}


@pytest.mark.parametrize("name", list(ONE_D))
def test_a_1d_bug_is_named_with_its_axis(name):
    bug, cause, words = ONE_D[name]
    found, findings = explained(*planted(CONV1D, bug))
    assert found == cause, findings
    assert words in findings, findings


THREE_D = {
    "flip_d": (flipped(0), "kernel_flip", "kernel flipped along D only"),
    "flip_h": (flipped(1), "kernel_flip", "kernel flipped along H only"),
    "flip_w": (flipped(2), "kernel_flip", "kernel flipped along W only"),
    "flip_hw": (flipped(1, 2), "kernel_flip", "kernel flipped along H and W"),
    "axes_whd": (permuted(2, 1, 0), "kernel_flip", "kernel axes permuted (W, H, D)"),
    "phase_h": (phase_offset(1), "stride", "outputs sampled at i*s + 1 instead of i*s on H only"),
    "dilation_w": (dilation_ignored(2), "dilation", "dilation ignored (taps adjacent) on W only"),
    "dilation_d": (dilation_ignored(0), "dilation", "dilation ignored (taps adjacent) on D only"),
    "one_more_before_d": (one_more_before(0), "padding", ": D one more before"),
    "one_more_before_w": (one_more_before(2), "padding", ": W one more before"),
    "groups_interleaved": (groups_interleaved, "groups", "o % groups"),
    "bias_missing": (bias_missing, "bias", "bias not added"),
    "depth_mean": (depth_mean, "depth_sum", "averages the input channels"),
    "flip_d_no_bias": (
        flipped_without_bias(0),
        "kernel_flip+bias",
        "kernel flipped along D only | bias not added",
    ),
}


@pytest.mark.parametrize("name", list(THREE_D))
def test_a_3d_bug_on_one_axis_is_named_with_that_axis(name):
    bug, cause, words = THREE_D[name]
    found, findings = explained(*planted(CONV3D, bug))
    assert found == cause, findings
    assert words in findings, findings


def test_orientations_are_the_symmetries_of_the_box_named_by_axis():
    rng = np.random.default_rng(0)
    for rank, count in ((1, 2), (2, 8), (3, 48)):
        table = orientations(rank)
        kernel = rng.standard_normal((1, 1, *(3,) * rank))
        read = {orient(kernel, name).tobytes() for name in table}
        assert len(table) == len(read) == count
    assert list(orientations(1)) == ["identity", "flip_l"]
    words = {name: o.words for name, o in orientations(3).items()}
    assert words["flip_d"] == "kernel flipped along D only"
    assert words["flip_hw"] == "kernel flipped along H and W"
    assert words["axes_whd"] == "kernel axes permuted (W, H, D)"
    assert words["flip_dhw"] == "kernel flipped along D, H and W (true convolution)"


def test_a_3d_bug_is_named_when_the_harness_pads_first():
    raw = {**CONV3D, "padding_mode": "reflect"}
    case, arrays, _ = planted(raw, bias_missing)
    x = torch.tensor(reference.pad(arrays.input64, case.pads, "reflect"))
    w, b = torch.tensor(arrays.weight64), torch.tensor(arrays.bias64)
    args = _with({"stride": case.stride, "dilation": case.dilation, "groups": 2}, padding=0)
    output = F.conv3d(x, w.flip(3), b, **args).numpy()
    found, findings = explained(case, arrays, output, prepadded=True)
    assert (found, findings) == ("kernel_flip", "kernel flipped along H only")


def test_an_output_no_family_reproduces_is_unknown_in_3d():
    case, arrays, output = planted(CONV3D, flipped(0))
    noisy = output + np.random.default_rng(1).standard_normal(output.shape)
    baseline = compute_baseline(case, arrays)
    assert explain_divergence(case, arrays, noisy, baseline) == "unknown"  # the search ends


def rows(raw: dict) -> dict[str, tuple]:
    case = case_from_dict(raw)
    arrays = materialize(case)
    records = variant_records(case, arrays, compute_baseline(case, arrays))
    return {r.variant: (r.observed, r.expected, r.status) for r in records}


SEEN = ("diverge", "diverge", "ok")
INVISIBLE = ("agree", "agree", "ok")
HIDDEN = ("agree", "diverge", "hidden")


def test_variant_rows_of_a_1d_case():
    assert rows(CONV1D) == {
        "flipped": SEEN,
        "no_depth_sum": SEEN,
        "depth_mean": SEEN,
        "same_extra_top_left": INVISIBLE,  # not 'same'
        "padding_swapped": INVISIBLE,  # one axis: nothing to swap
        "boundary_symmetric": INVISIBLE,  # zeros
        "stride_phase": SEEN,
        "no_dilation": SEEN,
        "groups_interleaved": SEEN,
        "no_bias": SEEN,
    }


def test_variant_rows_of_3d_cases():
    assert rows(CONV3D) == {
        "flipped": SEEN,
        "no_depth_sum": SEEN,
        "depth_mean": SEEN,
        "same_extra_top_left": INVISIBLE,
        "padding_swapped": INVISIBLE,  # pads (2, 1, 2): D and W padded alike
        "boundary_symmetric": INVISIBLE,
        "stride_phase": SEEN,
        "no_dilation": SEEN,
        "groups_interleaved": SEEN,
        "no_bias": SEEN,
    }
    constant = {
        "id": "nd_3d_constant",
        "op": "conv3d",
        "dtype": "float64",
        "padding": "same",
        "padding_mode": "reflect",
        "input": {"shape": [1, 1, 5, 6, 4], "init": "ones"},
        "weight": {"shape": [1, 1, 2, 3, 1], "init": "normal", "seed": 7},
    }
    assert rows(constant) == {
        "flipped": HIDDEN,  # a constant input hides what the operator shows
        "no_depth_sum": INVISIBLE,
        "depth_mean": INVISIBLE,
        "same_extra_top_left": HIDDEN,
        "padding_swapped": SEEN,  # 'same' pads (0, 1, 1, 1, 0, 0) read as (0, 0, 1, 1, 0, 1)
        "boundary_symmetric": HIDDEN,
        "stride_phase": INVISIBLE,
        "no_dilation": INVISIBLE,
        "groups_interleaved": INVISIBLE,
        "no_bias": INVISIBLE,
    }


def _random_case(rng, rank: int, index: int) -> dict:
    groups = int(rng.choice([1, 2]))
    cg = int(rng.integers(1, 3))
    c_out = groups * int(rng.integers(1, 3))
    kernel = [int(k) for k in rng.integers(1, 4, rank)]
    stride = [int(s) for s in rng.integers(1, 3, rank)]
    padding = (
        "same"
        if stride == [1] * rank and rng.random() < 0.4
        else [int(p) for p in rng.integers(0, 3, 2 * rank)]
    )
    weight = np.round(rng.standard_normal((c_out, cg, *kernel)), 3)
    if rng.random() < 0.3:
        weight = weight + np.flip(weight, tuple(range(2, 2 + rank)))
    raw = {
        "id": f"r{rank}_{index}",
        "op": f"conv{rank}d",
        "dtype": "float64",
        "input": {"shape": [1, groups * cg, *(int(s) for s in rng.integers(5, 8, rank))]},
        "weight": weight.tolist(),
        "stride": stride,
        "dilation": [int(d) for d in rng.integers(1, 3, rank)],
        "padding": padding,
        "padding_mode": str(rng.choice(["zeros", "reflect", "circular"])),
        "groups": groups,
    }
    raw["input"].update(init="normal", seed=index)
    if rng.random() < 0.5:
        raw["bias"] = {"shape": [c_out], "init": "normal", "seed": index + 1}
    if index % 3 == 0:  # complex, with a real kernel one time in two (conjugation invisible)
        raw["dtype"] = "complex128"
        if index % 2:
            imag = np.round(np.random.default_rng(index).standard_normal(weight.shape), 3)
            raw["weight"] = np.vectorize(lambda r, i: f"{r}{i:+}j")(weight, imag).tolist()
    return raw


@pytest.mark.parametrize("rank", [1, 3])
def test_predicates_agree_with_the_mutated_reference(rank):
    """Invisible by the predicate <=> the mutated output equals the baseline on random data."""
    rng = np.random.default_rng(rank)
    checked = 0
    seen = {name: set() for name in MUTATIONS}
    for index in range(40):
        try:
            case = case_from_dict(_random_case(rng, rank, index))
            arrays = materialize(case)
            baseline = compute_baseline(case, arrays).output
        except Exception:  # a configuration torch would reject
            continue
        checked += 1
        for name, mutation in MUTATIONS.items():
            try:
                output = mutated_output(case, arrays, mutation.semantics, baseline)
            except ValueError:  # the kernel no longer fits: a visible change
                output = None
            same = (
                output is not None
                and output.shape == baseline.shape
                and np.allclose(output, baseline, rtol=0, atol=1e-9)
            )
            assert same == mutation.invisible(case, arrays), (name, case.raw)
            seen[name].add(same)
    assert checked >= 20
    if rank == 3:  # every predicate met both ways (1-D has nothing to swap)
        assert all(both == {True, False} for both in seen.values()), seen
