"""Rough edges a newcomer hit: explain's PATHS and its unknown-id message, a plug-in file inside
a package, fuzz's description of a shrunk case, bfloat16 arrays for a plug-in that asks."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import ROOT, run_cli

TWO_CASES = """
cases:
  - id: square_sum
    input: [[1, 2], [3, 4]]
    weight: [[1, 1], [1, 1]]
  - id: square_corner
    input: [[1, 2], [3, 4]]
    weight: [[1]]
"""


def _one_line_error(result) -> str:
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    return lines[0]


def test_explain_takes_positional_paths_like_run(write_cases):
    path = write_cases(TWO_CASES)
    result = run_cli("explain", "square_sum", path)
    assert result.returncode == 0, result.stderr
    # 1 + 2 + 3 + 4: the one output element of the 2x2 window
    assert "= 10" in result.stdout
    assert f"case square_sum ({path})" in result.stdout


def test_explain_still_takes_cases_and_adds_it_to_paths(write_cases, tmp_path):
    first = write_cases(TWO_CASES)
    other = write_cases(TWO_CASES.replace("square_", "other_"), name="other.yaml")
    result = run_cli("explain", "other_corner", first, "--cases", other)
    assert result.returncode == 0, result.stderr
    assert "case other_corner" in result.stdout


def test_explain_unknown_id_says_where_it_looked_and_suggests(write_cases):
    path = write_cases(TWO_CASES)
    line = _one_line_error(run_cli("explain", "square_summ", path))
    assert "no case 'square_summ'" in line
    assert f"among the 2 cases in {path}" in line
    assert "did you mean 'square_sum'" in line


def test_explain_with_a_path_where_the_id_goes_says_the_order(write_cases):
    path = write_cases(TWO_CASES)
    line = _one_line_error(run_cli("explain", path))
    assert f"'{path}' is a file or directory: CASE_ID comes first" in line


def test_explain_unknown_id_without_paths_names_the_default(tmp_path):
    (tmp_path / "cases").mkdir()
    (tmp_path / "cases" / "mine.yaml").write_text(TWO_CASES)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}  # this checkout's harness, run from elsewhere
    result = subprocess.run(
        [sys.executable, "-m", "harness", "explain", "MYCASE"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    line = _one_line_error(result)
    assert "among the 2 cases in cases" in line
    assert "name case files or directories after CASE_ID" in line
    assert "did you mean" not in line


BAD_PACKAGE = {
    "__init__.py": "",
    "helpers.py": "def flip(weight):\n    return weight[..., ::-1, ::-1].copy()\n",
    "bad.py": (
        "import torch\n"
        "import torch.nn.functional as F\n\n"
        "from . import helpers\n\n\n"
        "def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):\n"
        "    flipped = torch.from_numpy(helpers.flip(weight))\n"
        "    b = None if bias is None else torch.from_numpy(bias)\n"
        "    x = torch.from_numpy(input)\n"
        "    return F.conv2d(x, flipped, b, stride, padding, dilation, groups).numpy()\n"
    ),
}

ASYMMETRIC = """
cases:
  - id: asym
    input: {shape: [1, 1, 4, 4], init: integers, seed: 1}
    weight: {shape: [1, 1, 2, 2], init: integers, seed: 2}
"""


def _package(tmp_path) -> str:
    """mylib/ (a package whose bad.py imports a sibling relatively); its bad.py:conv2d."""
    package = tmp_path / "outer" / "mylib"
    package.mkdir(parents=True)
    for name, text in BAD_PACKAGE.items():
        (package / name).write_text(text)
    return f"{package / 'bad.py'}:conv2d"


def _plugin_rows(report, impl):
    import csv

    with open(report, newline="") as handle:
        return [row for row in csv.DictReader(handle) if row["implementation"] == impl]


def test_a_plugin_file_inside_a_package_keeps_its_relative_imports(tmp_path, write_cases):
    impl = _package(tmp_path)
    cases = write_cases(ASYMMETRIC)
    for extra in ([], ["--in-process"]):  # a worker process resolves it as the parent does
        report = tmp_path / f"report{len(extra)}.csv"
        result = run_cli("run", cases, "--impl", impl, "--out", report, *extra)
        assert result.returncode == 1, result.stderr  # the planted flip, not an import error
        (row,) = _plugin_rows(report, impl)
        assert row["status"] == "unexpected_divergence"
        assert row["cause"] == "kernel_flip", row["message"]


def test_a_package_named_like_another_module_is_told_not_shadowed(tmp_path, write_cases):
    package = tmp_path / "json"  # the standard library's json comes first on sys.path
    package.mkdir()
    for name, text in BAD_PACKAGE.items():
        (package / name).write_text(text)
    impl = f"{package / 'bad.py'}:conv2d"
    line = _one_line_error(run_cli("run", write_cases(ASYMMETRIC), "--impl", impl))
    assert "is module 'json.bad' of its package, but 'json' is found at" in line
    assert "rename the package" in line


def test_diagnose_resolves_a_plugin_file_inside_a_package(tmp_path):
    import json

    impl = _package(tmp_path)
    result = run_cli("diagnose", impl, "--json")
    assert result.returncode != 2, result.stderr
    assert "kernel_flip" in json.dumps(json.loads(result.stdout))


def test_a_fuzz_finding_describes_the_shrunk_case_it_saves(tmp_path):
    """The saved case's description quotes the message its own failing row has when it is run,
    not the message of the (larger, often float32) configuration first found."""
    import csv

    from harness.cases.loading import load_cases

    impl = "examples.float16_accumulate:conv2d"
    saved = tmp_path / "found"
    fuzzed = run_cli("fuzz", "--impl", impl, "--count", "50", "--seed", "3", "--save", saved)
    assert fuzzed.returncode == 1, fuzzed.stderr  # the planted float16 accumulation is found
    (case,) = load_cases([saved])
    assert case.input_shape == (1, 1, 1, 1)  # shrunk, unlike the configuration first found
    report = tmp_path / "rerun.csv"
    rerun = run_cli("run", saved, "--impl", impl, "--out", report, "--no-variants")
    assert rerun.returncode == 1, rerun.stderr
    with open(report, newline="") as handle:
        (row,) = [r for r in csv.DictReader(handle) if r["implementation"] == impl]
    assert row["status"] == "unexpected_divergence"
    head = f"Found by `conv-harness fuzz --seed 3`: conv2d {impl} / as_is: "
    assert case.description == f"{head}unexpected_divergence [{row['cause']}]. {row['message']}"


BFLOAT16_PLUGIN = '''
"""A plug-in that asks for bfloat16 arrays and computes in float32, rounding to bfloat16."""
import ml_dtypes
import numpy as np
import torch
import torch.nn.functional as F

wants_bfloat16 = True  # every operation of this module
SEEN = []


def _tensors(*arrays):
    for array in arrays:
        if array is not None and array.dtype != ml_dtypes.bfloat16:
            raise TypeError(f"got {array.dtype}, not bfloat16")
    return [None if a is None else torch.from_numpy(a.astype(np.float32)) for a in arrays]


def _bfloat16(tensor):
    return None if tensor is None else tensor.detach().numpy().astype(ml_dtypes.bfloat16)


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    x, w, b = _tensors(input, weight, bias)
    return _bfloat16(F.conv2d(x, w, b, stride, padding, dilation, groups))


def conv2d_backward(grad_output, input, weight, bias=None, stride=1, padding=0, dilation=1,
                    groups=1):
    g, x, w, b = _tensors(grad_output, input, weight, bias)
    for t in (x, w, b):
        if t is not None:
            t.requires_grad_()
    F.conv2d(x, w, b, stride, padding, dilation, groups).backward(g)
    return _bfloat16(x.grad), _bfloat16(w.grad), None if b is None else _bfloat16(b.grad)


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1):
    x, w, b = _tensors(input, weight, bias)
    out = F.conv_transpose2d(x, w, b, stride, padding, output_padding, groups, dilation)
    return _bfloat16(out)


def conv_transpose2d_backward(grad_output, input, weight, bias=None, stride=1, padding=0,
                              output_padding=0, groups=1, dilation=1):
    g, x, w, b = _tensors(grad_output, input, weight, bias)
    for t in (x, w, b):
        if t is not None:
            t.requires_grad_()
    F.conv_transpose2d(x, w, b, stride, padding, output_padding, groups, dilation).backward(g)
    return _bfloat16(x.grad), _bfloat16(w.grad), None if b is None else _bfloat16(b.grad)
'''

BFLOAT16_CASES = """
cases:
  - id: bf16_forward
    dtype: bfloat16
    input: {shape: [1, 2, 5, 5], init: integers, seed: 1}
    weight: {shape: [3, 2, 3, 3], init: integers, seed: 2}
    bias: [1, -2, 3]
    padding: 1
  - id: bf16_transposed
    op: conv_transpose2d
    dtype: bfloat16
    input: {shape: [1, 2, 3, 3], init: integers, seed: 3}
    weight: {shape: [2, 3, 3, 3], init: integers, seed: 4}
    bias: [1, 0, -1]
    stride: 2
"""


def _bfloat16_rows(tmp_path, write_cases, plugin_text, *extra):
    plugin = tmp_path / "bf16_plugin.py"
    plugin.write_text(plugin_text)
    cases = write_cases(BFLOAT16_CASES)
    report = tmp_path / "bf16.csv"
    result = run_cli(
        "run", cases, "--impl", plugin, "--out", report, "--no-variants", "--backward", *extra
    )
    return result, _plugin_rows(report, str(plugin))


def test_a_plugin_that_asks_gets_bfloat16_arrays_everywhere(tmp_path, write_cases):
    result, rows = _bfloat16_rows(tmp_path, write_cases, BFLOAT16_PLUGIN)
    assert result.returncode == 0, result.stdout + result.stderr
    # forward and transposed outputs, and each one's three gradients, all computed
    quantities = sorted((row["case_id"], row["quantity"]) for row in rows)
    assert quantities == sorted(
        (case, quantity)
        for case in ("bf16_forward", "bf16_transposed")
        for quantity in ("output", "grad_input", "grad_weight", "grad_bias")
    )
    assert {row["status"] for row in rows} == {"ok"}, [r["message"] for r in rows]
    assert {row["observed"] for row in rows} == {"agree"}


def test_without_asking_a_plugin_still_gets_float32_arrays(tmp_path, write_cases):
    # the same plug-in without the opt-in refuses the float32 arrays it gets, as before
    plain = BFLOAT16_PLUGIN.replace("wants_bfloat16 = True", "wants_bfloat16 = False")
    result, rows = _bfloat16_rows(tmp_path, write_cases, plain)
    assert result.returncode == 1
    assert len(rows) == 8
    assert {row["status"] for row in rows} == {"error"}
    assert all("got float32, not bfloat16" in row["message"] for row in rows)


def test_a_function_attribute_asks_for_bfloat16_too(tmp_path):
    from harness.api import run
    from harness.cases.loading import case_from_dict

    plugin = tmp_path / "one_function.py"
    plugin.write_text(
        "import ml_dtypes\n"
        "import numpy as np\n\n\n"
        "def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):\n"
        "    assert input.dtype == weight.dtype == ml_dtypes.bfloat16, input.dtype\n"
        "    total = (input.astype(np.float32) * weight.astype(np.float32)).sum()\n"
        "    return np.full((1, 1, 1, 1), total, dtype=ml_dtypes.bfloat16)\n\n\n"
        "conv2d.wants_bfloat16 = True\n"
    )
    case = case_from_dict(
        {
            "id": "bf16_window",
            "dtype": "bfloat16",
            "input": [[1.5, 2], [3, 4]],
            "weight": [[1, 2], [3, 0.5]],
        }
    )
    frame = run([case], [f"{plugin}:conv2d"], variants=False, isolate=False)
    (row,) = frame[frame.implementation == f"{plugin}:conv2d"].itertuples()
    # the plug-in's dtype assertion held and its bfloat16 sum, 1.5 + 4 + 9 + 2, came back
    assert (row.status, row.observed) == ("ok", "agree"), row.message


def test_asking_for_bfloat16_without_ml_dtypes_is_an_error_row(tmp_path, monkeypatch):
    from harness.api import run
    from harness.cases.loading import case_from_dict

    plugin = tmp_path / "no_ml_dtypes.py"
    plugin.write_text(
        "import numpy as np\n\nwants_bfloat16 = True\n\n\n"
        "def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):\n"
        "    return np.zeros((1, 1, 1, 1), np.float32)\n"
    )
    case = case_from_dict(
        {
            "id": "bf16_one",
            "dtype": "bfloat16",
            "input": [[1, 2], [3, 4]],
            "weight": [[1, 1], [1, 1]],
        }
    )
    monkeypatch.setitem(sys.modules, "ml_dtypes", None)  # `import ml_dtypes` now fails
    frame = run([case], [f"{plugin}:conv2d"], variants=False, isolate=False)
    (row,) = frame[frame.implementation == f"{plugin}:conv2d"].itertuples()
    assert row.status == "error"
    assert "wants_bfloat16" in row.message
    assert "pip install ml_dtypes" in row.message
