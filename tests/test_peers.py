"""Peer implementations (optional extras): each agrees with the reference on the whole registry
except where a case documents the difference; absent packages skip with the reason."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from harness.cases import load_cases
from harness.computations.peers import PEERS, ImplementationUnavailable
from harness.computations.registry import get_implementation
from harness.running.executor import run_records
from harness.running.runner import RunOptions
from tests.conftest import ROOT, run_cli

NEEDS = {"jax": "jax", "onnxruntime": "onnxruntime", "opencv": "cv2"}
CPU_PEERS = [
    "jax",
    "onnxruntime",
    "opencv",
    "scipy_ndimage",
    "torch_channels_last",
    "torch_no_mkldnn",
]


def _skip_unless_installed(name: str) -> None:
    module = NEEDS.get(name)
    if module and importlib.util.find_spec(module) is None:
        pytest.skip(f"{name} needs the {module} package (pip install 'conv-harness[peers]')")


# jax compiles every new shape: the whole registry through it takes half a minute of CPU, so the
# default suite runs it on every fifth case (transposed and complex ones among them) and the full
# run is a slow check
SLOW_ON_THE_WHOLE_REGISTRY = {"jax"}


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(n, marks=pytest.mark.slow) if n in SLOW_ON_THE_WHOLE_REGISTRY else n
        for n in CPU_PEERS
    ],
)
def test_peer_agrees_with_reference_on_the_registry(name):
    _check_the_registry(name, load_cases([ROOT / "cases"]))


@pytest.mark.parametrize("name", sorted(SLOW_ON_THE_WHOLE_REGISTRY))
def test_peer_agrees_with_reference_on_every_fifth_case_of_the_registry(name):
    _check_the_registry(name, load_cases([ROOT / "cases"])[::5])


def _check_the_registry(name, cases):
    _skip_unless_installed(name)
    records = run_records(cases, [name], RunOptions(variants=False))
    failing = [f"{r.case_id}: {r.status} {r.cause} {r.message}" for r in records if r.failed]
    assert not failing, failing[:5]
    # peers compute conv2d only: conv_transpose2d cases are `unsupported` for every one of them
    transposed = {r.case_id for r in records if r.op == "conv_transpose2d"}
    assert transposed
    assert {r.status for r in records if r.case_id in transposed} <= {"unsupported", "rejected"}
    unsupported = {r.dtype for r in records if r.status == "unsupported" and r.op == "conv2d"}
    # complex: opencv and onnxruntime have no complex convolution
    no_complex = {"complex64", "complex128"} if name in ("onnxruntime", "opencv") else set()
    assert unsupported <= ({"float64", "float16"} if name == "onnxruntime" else set()) | no_complex


@pytest.mark.parametrize("name", CPU_PEERS)
def test_peer_computes_the_seed_example(name):
    _skip_unless_installed(name)
    image = np.array(
        [[1, 1, 1, 0, 0], [0, 1, 1, 1, 0], [0, 0, 1, 1, 1], [0, 0, 1, 1, 0], [0, 1, 1, 0, 0]],
        np.float32,
    )[None, None]
    kernel = np.array([[1, 2, 0], [0, 1, 0], [0, 0, 3]], np.float32)[None, None]
    out = np.asarray(get_implementation(name)(image, kernel))
    assert out[0, 0].tolist() == [[7, 7, 5], [5, 7, 4], [3, 3, 4]]  # cross-correlation


def test_missing_peer_is_a_one_line_usage_error_and_a_pytest_skip(tmp_path, monkeypatch):
    if importlib.util.find_spec("torch") and __import__("torch").cuda.is_available():
        pytest.skip("a CUDA device is present")
    with pytest.raises(ImplementationUnavailable, match="CUDA"):
        get_implementation("torch_cuda")
    result = run_cli("run", "cases/seed.yaml", "--impl", "torch_cuda", "--out", tmp_path / "r.csv")
    if result.returncode != 2:
        pytest.skip("a CUDA device is present")
    assert len(result.stderr.strip().splitlines()) == 1
    assert "CUDA" in result.stderr


def test_every_peer_is_listed_in_unknown_name_errors():
    result = run_cli("diagnose", "nonsense")
    assert result.returncode == 2
    for name in PEERS:
        assert name in result.stderr
