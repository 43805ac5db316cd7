"""The tensorflow and openvino peers (optional extras): every operation they define agrees with
the reference on seeded random configurations at every rank, what they lack is NotImplementedError
(an `unsupported` row, never an error), and their registry rows hold no unexplained divergence.
Without the package, each test skips with the reason."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from harness.cases import load_cases
from harness.computations.operations import BUILTIN_OPERATIONS
from harness.computations.registry import get_implementation, operations_of
from harness.running.executor import run_records
from harness.running.runner import RunOptions
from tests.conftest import ROOT

MODULES = {"tensorflow": "tensorflow", "openvino": "openvino"}
REFERENCE = BUILTIN_OPERATIONS["reference"]


def _operations(name: str) -> dict:
    module = MODULES[name]
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{name} needs the {module} package (pip install 'conv-harness[{name}]')")
    return operations_of(name, get_implementation(name))


def _supported(name, kind, rank, groups, stride, dilation, dtype, backward=False) -> bool:
    """What each library computes, as measured on its CPU kernels (the rest must be refused):
    TensorFlow's float32 convolutions run on oneDNN, its float64 ones on its own kernels, which
    lack more."""
    if name == "openvino":
        return True
    dilated, strided = max(dilation) > 1, max(stride) > 1
    if kind == "conv" and rank < 3 and strided and dilated:
        return False  # tf.nn.convolution refuses the pair (any dtype)
    if groups > 1 and rank == 3:
        return False  # Conv3D and its transposed form want equal depths
    if dtype == np.float32:
        return True
    if kind == "conv_transpose":
        return not dilated and groups == 1
    if rank == 3 and dilated:
        return False
    return not (backward and groups > 1)


def _draw(rng, rank: int, kind: str):
    """One small random configuration of operation `kind` at `rank`."""
    groups = int(rng.choice([1, 1, 2]))
    n = int(rng.integers(1, 3))
    c_in, c_out = groups * int(rng.integers(1, 3)), groups * int(rng.integers(1, 3))
    kernel = tuple(int(k) for k in rng.integers(1, 4, rank))
    stride = tuple(int(s) for s in rng.integers(1, 3, rank))
    dilation = tuple(int(d) for d in rng.integers(1, 3, rank))
    if rng.random() < 0.5:
        dilation = (1,) * rank
    sizes = tuple(int(s) for s in rng.integers(5, 8, rank))
    padding = tuple(int(p) for p in rng.integers(0, 2, rank))
    x = rng.standard_normal((n, c_in, *sizes))
    transposed = kind.startswith("conv_transpose")
    w_shape = (c_in, c_out // groups, *kernel) if transposed else (c_out, c_in // groups, *kernel)
    w = rng.standard_normal(w_shape)
    b = rng.standard_normal(c_out) if rng.random() < 0.6 else None
    extra = tuple(int(rng.integers(0, max(s, d))) for s, d in zip(stride, dilation, strict=True))
    return x, w, b, stride, padding, dilation, groups, extra


def _call(function, kind, arrays, params):
    x, w, b = arrays
    stride, padding, dilation, groups, extra = params
    if kind == "conv":
        return function(x, w, b, stride, padding, dilation, groups)
    if kind == "conv_transpose":
        return function(x, w, b, stride, padding, extra, groups, dilation)
    raise AssertionError(kind)


def _close(got, want, dtype) -> None:
    """Within a few units of the dtype's rounding of the largest value (the sums are short)."""
    got = np.asarray(got, dtype=np.float64)
    assert got.shape == want.shape
    unit = {np.float64: 1e-12, np.float32: 2e-5}[dtype]
    scale = np.abs(want).max() if want.size else 0.0
    np.testing.assert_allclose(got, want, rtol=0, atol=unit * (1 + scale))


KINDS = ("conv", "conv_transpose")


@pytest.mark.parametrize("name", ["tensorflow", "openvino"])
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("rank", [1, 2, 3])
def test_forward_and_backward_agree_with_the_reference(name, kind, rank):
    operations = _operations(name)
    rng = np.random.default_rng(1000 * rank + len(kind) + len(name))
    forward = operations[f"{kind}{rank}d"]
    backward = operations[f"{kind}{rank}d_backward"]
    reference_forward = REFERENCE[f"{kind}{rank}d"]
    reference_backward = REFERENCE[f"{kind}{rank}d_backward"]
    checked = refused = 0
    for _ in range(12):
        x, w, b, stride, padding, dilation, groups, extra = _draw(rng, rank, kind)
        params = (stride, padding, dilation, groups, extra)
        # openvino runs float64 in float32 (and refuses float64 gradients): float32 only
        dtypes = (np.float32,) if name == "openvino" else (np.float32, np.float64)
        for dtype in dtypes:
            arrays = tuple(None if a is None else a.astype(dtype) for a in (x, w, b))
            exact = tuple(None if a is None else a.astype(np.float64) for a in arrays)
            want = _call(reference_forward, kind, exact, params)
            g = rng.standard_normal(want.shape).astype(dtype)
            configuration = (name, kind, rank, groups, stride, dilation, dtype)
            if _supported(*configuration):
                got = _call(forward, kind, arrays, params)
                assert np.asarray(got).dtype == dtype
                _close(got, want, dtype)
            else:
                with pytest.raises(NotImplementedError):
                    _call(forward, kind, arrays, params)
                refused += 1
            wanted = _call_backward(reference_backward, kind, g.astype(np.float64), exact, params)
            if not _supported(*configuration, backward=True):
                with pytest.raises(NotImplementedError):
                    _call_backward(backward, kind, g, arrays, params)
                refused += 1
                continue
            grads = _call_backward(backward, kind, g, arrays, params)
            for value, expected in zip(grads, wanted, strict=True):
                assert (value is None) == (expected is None)
                if expected is not None:
                    _close(value, expected, dtype)
            checked += 1
    assert checked >= 3, (checked, refused)
    assert refused > 0 or name == "openvino"


def _call_backward(function, kind, g, arrays, params):
    x, w, b = arrays
    stride, padding, dilation, groups, extra = params
    if kind == "conv":
        return function(g, x, w, b, stride, padding, dilation, groups)
    return function(g, x, w, b, stride, padding, extra, groups, dilation)


@pytest.mark.parametrize("name", ["tensorflow", "openvino"])
@pytest.mark.parametrize("dtype", [np.complex64, np.complex128])
def test_complex_is_unsupported(name, dtype):
    operations = _operations(name)
    x = np.ones((1, 1, 4, 4), dtype)
    with pytest.raises(NotImplementedError, match="complex"):
        operations["conv2d"](x, np.ones((1, 1, 2, 2), dtype))
    with pytest.raises(NotImplementedError, match="complex"):
        operations["conv_transpose2d"](x, np.ones((1, 1, 2, 2), dtype))


@pytest.mark.parametrize(
    ("operation", "shapes", "scalars", "message", "float32_runs"),
    [  # float64 runs on TensorFlow's own CPU kernels; each message is TensorFlow's
        ("conv2d_backward", [(1, 4, 4, 4), (1, 4, 6, 6), (4, 2, 3, 3)], (1, 0, 1, 2), "rouped", 1),
        ("conv3d", [(1, 1, 6, 6, 6), (1, 1, 2, 2, 2)], (1, 0, 2), "dilated rates", 1),
        ("conv3d", [(1, 4, 6, 6, 6), (2, 2, 2, 2, 2)], (1, 0, 1, 2), "channels in filter", 0),
        ("conv_transpose1d", [(1, 1, 5), (1, 1, 2)], (1, 0, 0, 1, 2), "dilation rates", 1),
        ("conv_transpose2d", [(1, 4, 5, 5), (4, 1, 2, 2)], (1, 0, 0, 2), "rouped", 1),
        ("conv2d", [(1, 1, 9, 9), (1, 1, 3, 3)], (2, 0, 2), "dilation_rate", 0),
    ],
)
def test_tensorflow_lacks_are_unsupported_not_errors(
    operation, shapes, scalars, message, float32_runs
):
    function = _operations("tensorflow")[operation]
    arrays = [np.random.default_rng(7).standard_normal(shape) for shape in shapes]
    bias = [None]
    with pytest.raises(NotImplementedError, match=message):
        function(*arrays, *bias, *scalars)
    # float32 runs on oneDNN, which has all of these but a grouped Conv3D and stride with dilation
    single = [a.astype(np.float32) for a in arrays]
    if float32_runs:
        assert np.isfinite(np.asarray(function(*single, *bias, *scalars)[0])).all()
    else:
        with pytest.raises(NotImplementedError):
            function(*single, *bias, *scalars)


def test_openvino_float64_gradients_are_unsupported():
    operations = _operations("openvino")
    x, w = np.ones((1, 1, 4, 4)), np.ones((1, 1, 2, 2))
    with pytest.raises(NotImplementedError, match="float64"):
        operations["conv2d_backward"](np.ones((1, 1, 3, 3)), x, w)
    # the forward runs, in float32: 1/3 summed four times is float32's rounding of 4/3 ...
    third = np.full((1, 1, 2, 2), 1 / 3)
    out = operations["conv2d"](np.ones((1, 1, 2, 2)), third)
    assert out.dtype == np.float64
    assert out[0, 0, 0, 0] == float(np.float32(4 / 3))
    assert out[0, 0, 0, 0] != 4 / 3  # ... not float64's


@pytest.mark.parametrize("name", ["tensorflow", "openvino"])
def test_registry_rows_have_no_unexplained_divergence(name):
    """A slice of the registry (every rank, transposed, numerics, padding and the empty batches)
    with gradients; the full run (`run --impl tensorflow --impl openvino --backward`) takes about
    35 s on two cores and exits 0."""
    _operations(name)
    cases = [
        case
        for case in load_cases([ROOT / "cases"])
        if case.file.split("/")[-1] in ("numerics.yaml", "empty.yaml", "transposed.yaml")
        or case.id.startswith(("conv1d_same", "conv3d_same", "pad_same", "groups_"))
    ]
    assert len(cases) > 30
    records = run_records(cases, [name], RunOptions(variants=False, backward=True))
    failing = [f"{r.case_id} {r.quantity}: {r.status} {r.cause} {r.message}" for r in records]
    failing = [line for line, r in zip(failing, records, strict=True) if r.failed]
    assert not failing, failing[:5]
    statuses = {r.status for r in records}
    assert "error" not in statuses
    assert {r.op for r in records if r.status == "ok"} >= {"conv1d", "conv2d", "conv3d"}


FLAKY = """
import random

from harness.computations.implementations import reference_conv

DRAWS = random.Random(0)  # the same calls give the same results from run to run


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    # wrong on about half of the calls, as an implementation reading uninitialised memory is
    out = reference_conv(input, weight, bias, stride, padding, dilation, groups)
    return out + 1.0 if DRAWS.random() < 0.5 else out
"""


def test_shrinking_survives_an_implementation_that_diverges_on_some_calls(tmp_path):
    """TensorFlow's float32 strided convolution over a one-element axis reads uninitialised
    memory, so a configuration can diverge once and agree when shrinking replays it: shrinking
    keeps the smallest configuration that showed it (hypothesis would raise FlakyFailure)."""
    from harness.cases import case_from_dict
    from harness.computations.registry import resolve_implementations
    from harness.fuzz import fuzz, shrink

    module = tmp_path / "flaky_conv.py"
    module.write_text(FLAKY)
    implementations = resolve_implementations([f"{module}:conv2d"])
    result = fuzz(implementations, count=6, seed=5, variants=False, ranks=(2,))
    assert result.findings
    smallest = shrink(result.findings[0], implementations, 5, variants=False)
    assert case_from_dict(smallest).op == "conv2d"
