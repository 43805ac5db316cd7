"""Scale features: --jobs gives the same bytes, shards merge into the unsharded report, large
cases sample the scipy leg visibly, and the editing commands stay light."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np

from harness.cases import load_cases
from harness.computations.cost import sampled_maps
from harness.computations.registry import resolve_implementations
from harness.running.runner import RunOptions, run_case
from harness.running.select import estimated_cost, shard
from tests.conftest import ROOT, run_cli

SUBSET = ["cases/seed.yaml", "cases/groups.yaml", "cases/rejections.yaml"]


def test_jobs_and_shards_give_the_same_report(tmp_path):
    one, two = tmp_path / "one.csv", tmp_path / "two.csv"
    assert run_cli("run", *SUBSET, "--jobs", "1", "--out", one).returncode == 0
    assert run_cli("run", *SUBSET, "--jobs", "2", "--out", two).returncode == 0
    assert one.read_bytes() == two.read_bytes()
    parts = []
    for index in (1, 2, 3):
        part = tmp_path / f"shard{index}.csv"
        assert (
            run_cli(
                "run", *SUBSET, "--jobs", "1", "--shard", f"{index}/3", "--out", part
            ).returncode
            == 0
        )
        parts.append(part)
    merged = tmp_path / "merged.csv"
    assert run_cli("merge", *parts, "--out", merged).returncode == 0
    assert merged.read_bytes() == one.read_bytes()


def test_shards_partition_and_balance():
    cases = load_cases([ROOT / "cases"])
    shards = [shard(cases, index, 4) for index in range(1, 5)]
    ids = [c.id for part in shards for c in part]
    assert sorted(ids) == sorted(c.id for c in cases)  # a partition: each case exactly once
    loads = [sum(estimated_cost(c) for c in part) for part in shards]
    assert max(loads) <= 1.25 * min(loads)
    assert shard(cases, 2, 4) == shards[1]  # deterministic


def test_merge_refuses_overlapping_reports(tmp_path):
    out = tmp_path / "r.csv"
    run_cli("run", "cases/seed.yaml", "--jobs", "1", "--out", out)
    result = run_cli("merge", out, out, "--out", tmp_path / "m.csv")
    assert result.returncode == 2
    assert "more than one report" in result.stderr


def test_large_case_samples_the_scipy_leg_visibly(write_cases):
    path = write_cases("""
        cases:
          - id: large
            input: {shape: [4, 32, 40, 40], init: normal, seed: 1}
            weight: {shape: [32, 32, 3, 3], init: normal, seed: 2}
            padding: 1
    """)
    (case,) = load_cases([path])
    maps = sampled_maps(case)
    assert maps is not None
    assert 0 < len(maps) < 4 * 32
    records = run_case(case, resolve_implementations(["scipy", "torch"]), RunOptions())
    rows = {(r.implementation, r.variant): r for r in records}
    scipy_row, flipped, torch_row = (
        rows["scipy", "as_is"],
        rows["reference", "flipped"],
        rows["torch", "as_is"],
    )
    assert scipy_row.status == "ok"
    assert scipy_row.sampled == f"{len(maps)}/128 maps"
    assert scipy_row.total == len(maps) * 40 * 40
    assert "sample of" in scipy_row.message
    # the flipped variant is the reference's, computed in full
    assert not flipped.sampled
    assert flipped.cause == "kernel_flip"
    assert torch_row.sampled == ""
    assert torch_row.total == 4 * 32 * 40 * 40


def test_small_cases_are_not_sampled():
    for case in load_cases([ROOT / "cases" / "seed.yaml"]):
        assert sampled_maps(case) is None


def test_editing_commands_import_no_heavy_library():
    probe = (
        "import sys, contextlib, io\n"
        "from harness.cli import main\n"
        "for args in (['validate'], ['list'], ['--help']):\n"
        "    with contextlib.redirect_stdout(io.StringIO()):\n"
        "        try:\n"
        "            main(args)\n"
        "        except SystemExit:\n"
        "            pass\n"
        "print(sorted(m for m in ('torch', 'scipy', 'pandas') if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.stdout.strip() == "[]", result.stdout + result.stderr


def test_reference_memory_is_bounded_by_blocks(monkeypatch):
    """The contraction works on bounded blocks: peak extra memory grows with the input copy,
    not with the number of taps (an im2col would need kH*kW copies)."""
    import tracemalloc

    from harness.computations import reference

    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, 16, 96, 96))
    w = rng.standard_normal((16, 16, 7, 7))
    tracemalloc.start()
    out = reference.conv2d(x, w, padding=3)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    im2col = x.nbytes * 49
    assert peak - out.nbytes < im2col / 8


def test_torch_leg_does_not_depend_on_the_callers_thread_count():
    """torch rounds this case differently with 1 and 2 intra-op threads; the harness pins the
    count, so the row (and the report) is the same whatever the machine or --jobs."""
    import torch

    from harness.cases.data import materialize
    from harness.computations.implementations import TORCH_THREADS, torch_conv2d

    case = next(
        c for c in load_cases([ROOT / "cases"]) if c.id == "grid_stride2_padding1x2_dilation1"
    )
    arrays = materialize(case)
    kwargs = dict(
        stride=case.stride, padding=case.padding, dilation=case.dilation, groups=case.groups
    )
    previous = torch.get_num_threads()
    outputs = []
    try:
        for threads in (1, 2, 4):
            torch.set_num_threads(threads)
            outputs.append(torch_conv2d(arrays.input, arrays.weight, arrays.bias, **kwargs))
            assert torch.get_num_threads() == threads  # restored after the call
    finally:
        torch.set_num_threads(previous)
    assert TORCH_THREADS == 1
    assert all(out.tobytes() == outputs[0].tobytes() for out in outputs)


def test_scipy_sampling_counts_the_cost_of_each_call(write_cases):
    """A 1x1 kernel on small planes is cheap in multiply-adds but costs one correlate2d call per
    (n, o, c): the sample is bounded by calls too (ResNet-18's 1x1 shortcut took 400,000 calls)."""
    from harness.computations.cost import SCIPY_CALL_COST, SCIPY_FULL_COST, scipy_map_cost

    path = write_cases("""
        cases:
          - id: shortcut
            input: {shape: [8, 256, 14, 14], init: normal, seed: 1}
            weight: {shape: [512, 256, 1, 1], init: normal, seed: 2}
            stride: 2
    """)
    (case,) = load_cases([path])
    # scipy correlates the whole 14x14 plane, then strides: 196 products and one call per channel
    assert scipy_map_cost(case) == 256 * (SCIPY_CALL_COST + 14 * 14)
    maps = sampled_maps(case)
    assert maps is not None
    assert len(maps) * 256 * SCIPY_CALL_COST <= SCIPY_FULL_COST
    assert len({o for _, o in maps}) == len(maps)  # a different output channel in every map
    assert len({i for i, _ in maps}) == min(8, len(maps))  # and every image of the batch


def test_worker_thread_variables_are_set_only_while_workers_start(monkeypatch):
    from harness.running.executor import THREAD_VARIABLES, _worker_threads

    for name in THREAD_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MKL_NUM_THREADS", "7")  # the user's own setting is kept
    with _worker_threads(1):
        assert os.environ["OMP_NUM_THREADS"] == "1"
        assert os.environ["OPENBLAS_NUM_THREADS"] == "1"
        assert os.environ["MKL_NUM_THREADS"] == "7"
    assert "OMP_NUM_THREADS" not in os.environ
    assert "OPENBLAS_NUM_THREADS" not in os.environ
    assert os.environ["MKL_NUM_THREADS"] == "7"
