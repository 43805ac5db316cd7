"""Property tests (hypothesis): torch equals the reference on random valid configurations, and no
YAML document makes the loader raise anything but its own error type."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from conftest import examples
from harness.cases import CASE_FIELD_NAMES, load_cases
from harness.cases.errors import CaseFileError
from harness.computations import reference

pairs = st.tuples(st.integers(1, 3), st.integers(1, 3))


@st.composite
def configurations(draw):
    groups = draw(st.integers(1, 3))
    c_in = groups * draw(st.integers(1, 3))
    c_out = groups * draw(st.integers(1, 3))
    kh, kw = draw(pairs)
    h, w = draw(st.integers(1, 9)), draw(st.integers(1, 9))
    stride, dilation = draw(pairs), draw(pairs)
    pads = draw(st.tuples(*[st.integers(0, 3)] * 4))
    mode = draw(st.sampled_from(["zeros", "reflect", "replicate", "circular"]))
    seed = draw(st.integers(0, 2**31))
    bias = draw(st.booleans())
    return groups, c_in, c_out, (kh, kw), (h, w), stride, dilation, pads, mode, seed, bias


@settings(
    max_examples=examples(150), deadline=None, suppress_health_check=[HealthCheck.filter_too_much]
)
@given(configurations())
def test_torch_equals_reference(config):
    groups, c_in, c_out, kernel, size, stride, dilation, pads, mode, seed, with_bias = config
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, c_in, *size))
    w = rng.standard_normal((c_out, c_in // groups, *kernel))
    b = rng.standard_normal(c_out) if with_bias else None
    try:
        expected = F.conv2d(
            F.pad(
                torch.tensor(x),
                (pads[2], pads[3], pads[0], pads[1]),
                mode="constant" if mode == "zeros" else mode,
            ),
            torch.tensor(w),
            None if b is None else torch.tensor(b),
            stride,
            0,
            dilation,
            groups,
        ).numpy()
    except RuntimeError:
        assume(False)
    got = reference.conv2d(x, w, b, stride, pads, dilation, groups, mode)
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-10)


keys = st.sampled_from(
    [
        *CASE_FIELD_NAMES,
        "id",
        "cases",
        "sweeps",
        "defaults",
        "shape",
        "init",
        "seed",
        "low",
        "high",
        "at",
        "vary",
        "base",
        "x",
    ]
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 10),
    st.floats(allow_nan=True),
    st.sampled_from(["same", "valid", "normal", "zeros", "float32", "reflect", "a", ""]),
    st.text(max_size=5),
)
documents = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.one_of(keys, st.text(max_size=4)), children, max_size=5),
    ),
    max_leaves=30,
)


@st.composite
def case_like(draw):
    """Documents shaped roughly like case files, so validation gets deep."""
    case = draw(st.dictionaries(keys, documents, max_size=6))
    if draw(st.booleans()):
        case.setdefault("input", [[1.0, 2.0], [3.0, 4.0]])
        case.setdefault("weight", draw(st.one_of(documents, st.just([[1]]))))
        case.setdefault("id", draw(st.sampled_from(["a", "b", "A-b", 3])))
    return {"cases": [case]} if draw(st.booleans()) else {"sweeps": [case]}


@settings(
    max_examples=examples(300),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(st.one_of(documents, case_like(), st.text(max_size=80)))
def test_loader_raises_only_its_own_error(tmp_path, document):
    path = tmp_path / "doc.yaml"
    text = document if isinstance(document, str) else yaml.safe_dump(document)
    path.write_text(text)
    problems = None
    try:
        load_cases([path])
    except CaseFileError as error:  # anything else propagates and fails the test
        problems = error.problems
    if problems is not None:
        assert problems
        assert all("\n" not in p for p in problems)
