"""torch@DEVICE: torch@cpu equals the built-in torch, devices not here are usage errors, the
aliases resolve, `diverges:` keys of the family validate, and the memory guard refuses large
cases with a row instead of crashing."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from conftest import ROOT, run_cli
from harness.cases import load_cases
from harness.cases.errors import CaseFileError, ImplementationError
from harness.cases.naming import IMPLEMENTATION_NAMES, is_device_name
from harness.computations.devices import ImplementationUnavailable, canonical, numerics_note, parse
from harness.computations.operations import OPERATIONS
from harness.computations.registry import (
    get_implementation,
    implementation,
    is_plugin,
    operations_of,
)


def _cuda_here() -> bool:
    import torch

    return torch.cuda.is_available()


@pytest.mark.parametrize("backward", [False, True])
@pytest.mark.parametrize("path", ["cases/seed.yaml", "cases/conv1d.yaml"])
def test_torch_at_cpu_report_bytes_equal_torch(tmp_path, path, backward):
    extra = ["--backward"] if backward else []
    torch_csv, device_csv = tmp_path / "torch.csv", tmp_path / "device.csv"
    plain = run_cli("run", path, "--impl", "torch", *extra, "--out", torch_csv)
    device = run_cli("run", path, "--impl", "torch@cpu", *extra, "--out", device_csv)
    assert plain.returncode == device.returncode, device.stderr
    assert b"torch@cpu" in device_csv.read_bytes()
    assert device_csv.read_bytes().replace(b"torch@cpu", b"torch") == torch_csv.read_bytes()


@pytest.mark.parametrize("name", ["torch@nonexistent", "torch@cuda", "torch_cuda_tf32"])
def test_a_device_not_here_is_a_one_line_usage_error(tmp_path, name):
    if name != "torch@nonexistent" and _cuda_here():
        pytest.skip("a CUDA device is present")
    result = run_cli("run", "cases/seed.yaml", "--impl", name, "--out", tmp_path / "r.csv")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert name in lines[0]
    assert "Traceback" not in result.stderr


def test_unavailable_device_is_a_pytest_skip_and_unknown_one_an_error():
    with pytest.raises(ImplementationError, match="knows no device 'nonexistent'") as unknown:
        get_implementation("torch@nonexistent")
    assert not isinstance(unknown.value, ImplementationUnavailable)
    with pytest.raises(ImplementationError, match="CUDA setting only"):
        get_implementation("torch@cpu+tf32")
    with pytest.raises(ImplementationError, match="not a device name"):
        get_implementation("torch@CUDA")
    if not _cuda_here():
        with pytest.raises(ImplementationUnavailable, match="CUDA"):
            get_implementation("torch@cuda:1")


def test_aliases_resolve_to_the_cuda_members():
    assert canonical("torch_cuda") == "torch@cuda"
    assert canonical("torch_cuda_tf32") == "torch@cuda+tf32"
    assert parse("torch_cuda_tf32") == ("cuda", True)
    assert parse("torch@cuda:1") == ("cuda:1", False)
    assert numerics_note("torch_cuda") == (
        "torch@cuda: TF32 off, cuDNN deterministic on, benchmark off"
    )
    assert numerics_note("torch@cuda:1+tf32").startswith("torch@cuda:1: TF32 on")
    assert numerics_note("torch@cpu") == ""
    assert not is_plugin("torch@cuda")
    assert not is_plugin("torch_cuda")
    if _cuda_here():
        for alias in ("torch_cuda", "torch_cuda_tf32"):
            func = get_implementation(alias)
            assert func.device == "cuda"
            assert set(operations_of(alias, func)) == set(OPERATIONS)
        assert get_implementation("torch_cuda_tf32").known_causes == ("precision",)


def test_torch_at_cpu_has_every_operation_of_every_rank():
    func = get_implementation("torch@cpu")
    operations = operations_of("torch@cpu", func)
    assert set(operations) == set(OPERATIONS)
    assert func.device == "cpu"
    assert func.numerics_note == ""
    assert operations["conv3d_backward"].handles_padding_mode


def test_device_names_validate_as_diverges_keys(tmp_path):
    assert "torch@cuda" in IMPLEMENTATION_NAMES
    assert "torch@xpu:0" in IMPLEMENTATION_NAMES
    assert not is_device_name("torch@")
    assert not is_device_name("torch")
    path = tmp_path / "d.yaml"
    path.write_text(
        textwrap.dedent(
            """\
            cases:
              - id: tf32_declared
                input: {shape: [1, 2, 6, 6], init: normal}
                weight: {shape: [3, 2, 3, 3], init: normal}
                diverges: {torch@cuda: precision, torch@cuda+tf32: precision}
            """
        )
    )
    (case,) = load_cases([path])
    assert case.diverges["torch@cuda"] == "precision"
    path.write_text(path.read_text().replace("torch@cuda:", "torch@@cuda:"))
    with pytest.raises(CaseFileError):
        load_cases([path])


LARGE = """\
cases:
  - id: large_64bit_indexing
    description: An input of 2**31 + 2**20 elements, which needs 64-bit indexing.
    tags: [large]
    input: {shape: [1, 1, 2049, 1048576], init: uniform}
    weight: {shape: [1, 1, 3, 3], init: uniform}
    dtype: float32
"""


def test_a_spec_over_2_31_elements_validates_and_is_refused_at_run_time(tmp_path):
    path = tmp_path / "large.yaml"
    path.write_text(LARGE)
    assert run_cli("validate", path).returncode == 0
    out = tmp_path / "r.csv"
    result = run_cli("run", path, "-k", "large", "--impl", "torch@cpu", "--out", out)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    text = out.read_text()
    assert "refused: the case needs about 208.0 GiB" in text
    assert "2.0 GiB budget" in text


def test_the_memory_guard_refuses_over_a_small_max_memory(tmp_path):
    out = tmp_path / "r.csv"
    result = run_cli(
        "run", "cases/seed.yaml", "--impl", "torch@cpu", "--max-memory", "1KiB", "--out", out
    )
    assert result.returncode == 1
    assert "over the 1.0 KiB budget; raise --max-memory" in out.read_text()


def test_the_memory_guard_asks_the_ram_available_and_the_device(monkeypatch):
    from harness.computations import cost
    from harness.computations.implementation import Implementation

    (case,) = [c for c in load_cases([ROOT / "cases/seed.yaml"]) if c.id.startswith("seed_stats")]
    cpu = [implementation("torch@cpu", get_implementation("torch@cpu"))]
    assert cost.memory_refusal(case, cpu, cost.DEFAULT_MAX_MEMORY) is None
    monkeypatch.setattr(cost, "available_ram", lambda: 1024)
    assert "of RAM available now" in cost.memory_refusal(case, cpu, cost.DEFAULT_MAX_MEMORY)
    monkeypatch.setattr(cost, "available_ram", lambda: None)

    def on_cuda(*args, **kwargs):
        return None

    on_cuda.device = "cuda:0"  # type: ignore[attr-defined]
    monkeypatch.setattr(cost, "free_device_memory", lambda device: 1024)
    on_device = Implementation("torch@cuda", {"conv2d": on_cuda}, device="cuda:0", shipped=True)
    refusal = cost.memory_refusal(case, [on_device], cost.DEFAULT_MAX_MEMORY)
    assert refusal is not None
    assert "torch@cuda needs about" in refusal
    assert "cuda:0" in refusal


def test_gpu_check_runs_on_cpu_only_and_exits_0(tmp_path):
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks/gpu_check.py"), "--quick", "--out", tmp_path],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    if not _cuda_here():
        assert "no accelerator found" in result.stdout
    assert (tmp_path / "gpu_check.csv").is_file()
    assert "| device |" in (tmp_path / "gpu_check.md").read_text()


def test_a_device_implementation_states_its_numerics_in_every_row():
    """Forward and gradient rows of an implementation with a `numerics_note` start with it."""
    from harness.computations.implementations import torch_conv
    from harness.computations.operations import torch_conv_backward
    from harness.running.executor import run_records
    from harness.running.runner import RunOptions

    note = "torch@test: TF32 off, cuDNN deterministic on, benchmark off"

    def conv2d(*args, **kwargs):
        return torch_conv(*args, **kwargs)

    def conv2d_backward(*args, **kwargs):
        return torch_conv_backward(*args, **kwargs)

    module = type(sys)("device_like_plugin")
    for function in (conv2d, conv2d_backward):
        function.numerics_note = note  # type: ignore[attr-defined]
        function.handles_padding_mode = True  # type: ignore[attr-defined]
        setattr(module, function.__name__, function)
    sys.modules["device_like_plugin"] = module
    try:
        cases = load_cases([ROOT / "cases" / "seed.yaml"])[:2]
        records = run_records(  # in process: a worker could not import a module made here
            cases, ["device_like_plugin"], RunOptions(variants=False, backward=True), False
        )
    finally:
        del sys.modules["device_like_plugin"]
    assert {r.quantity for r in records} >= {"output", "grad_input", "grad_weight"}
    assert all(r.status == "ok" for r in records)
    assert all(r.message.startswith(note + "; ") for r in records)
