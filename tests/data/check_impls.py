"""Check the unseen implementations in tests/data against torch.nn.functional.conv2d.

Not a pytest file: run it as `python tests/data/check_impls.py [N_CONFIGS]`. For N seeded random
valid configurations it runs every honest, narrow and buggy implementation on the data rounded
to float64, float32, float16 and bfloat16 (float32 arrays holding bfloat16 values), compares each
output with F.conv2d in float64 on the same rounded values, and prints per implementation: the
max abs difference per dtype; the max error relative to S (the largest sum of |x*w| + |b| of an
output element, at least 1, as in the harness's atol) on float64 data; for buggy ones the max
distance from the bug's model in units of S * eps(dtype); whether the returned type and dtype
were right; and a verdict:

  honest  matches torch to float64 rounding (< 1e-9), and within 8 * eps(dtype) * S in the
          narrower dtypes (an FFT in float32 comes to about 2 eps);
  narrow  differs on float64 data, by at most 2**-7 * S (rounding-sized, as the harness says);
  buggy   equals a model of its bug built from torch's output (e.g. bias_twice = torch + bias).
It also runs torch.autograd.gradcheck on the custom autograd.Function and no_validation on
configurations torch refuses. Exit status 1 when any verdict fails.
"""

import sys
import time
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parents[1])]
import buggy_impls  # noqa: E402
import honest_impls  # noqa: E402
import narrow_impls  # noqa: E402

from harness.cases.data import round_to_dtype  # noqa: E402

warnings.filterwarnings("ignore", message="Using padding='same'")
DTYPES = ("float64", "float32", "float16", "bfloat16")
EPS = {"float64": 2.0**-52, "float32": 2.0**-23, "float16": 2.0**-10, "bfloat16": 2.0**-7}


def functions(module):
    """The module's public conv2d functions, in definition order."""
    return {
        name: f
        for name, f in vars(module).items()
        if callable(f)
        and getattr(f, "__module__", None) == module.__name__
        and not name.startswith("_")
        and not isinstance(f, type)
        and name != "round_mantissa"
    }


def random_config(rng):
    """One valid configuration with its float64 data; H, W leave an output of at least 1x1."""
    g, cg, og, n = (int(rng.integers(1, hi)) for hi in (4, 7, 4, 4))
    k, s, d = (tuple(int(v) for v in rng.integers(1, hi, 2)) for hi in (6, 4, 4))
    form = str(rng.choice(["int", "pair", "same", "valid"]))
    if form == "same":
        s, padding = (1, 1), "same"
        total = [dd * (kk - 1) for dd, kk in zip(d, k, strict=True)]
    elif form == "valid":
        padding, total = "valid", [0, 0]
    else:
        p = tuple(int(v) for v in rng.integers(0, 4, 2))
        padding = p[0] if form == "int" else p
        total = [2 * p[0], 2 * p[0]] if form == "int" else [2 * p[0], 2 * p[1]]
    hw = [
        max(1, dd * (kk - 1) + 1 - t) + int(rng.integers(0, 7))
        for dd, kk, t in zip(d, k, total, strict=True)
    ]

    def as_arg(t):  # an equal pair is sometimes passed as a plain int
        return t[0] if t[0] == t[1] and rng.random() < 0.5 else t

    return {
        "x": rng.normal(size=(n, g * cg, *hw)),
        "w": rng.normal(size=(g * og, cg, *k)),
        "b": rng.normal(size=g * og) if rng.random() < 0.7 else None,
        "form": form,
        "stride": as_arg(s),
        "padding": padding,
        "dilation": as_arg(d),
        "groups": g,
    }


def torch_conv(x, w, b, cfg):
    """F.conv2d in float64 on the given arrays."""
    x, w = torch.from_numpy(np.asarray(x, np.float64)), torch.from_numpy(np.asarray(w, np.float64))
    b = None if b is None else torch.from_numpy(np.asarray(b, np.float64))
    args = [
        v if isinstance(v, (int, str)) else tuple(v)
        for v in (cfg["stride"], cfg["padding"], cfg["dilation"])
    ]
    return F.conv2d(x, w, b, *args, cfg["groups"]).numpy()


def bug_model(name, ref, x, w, b, cfg):
    """What a buggy implementation should return, from torch's float64 output `ref`."""
    bias = 0.0 if b is None else np.asarray(b, np.float64)[:, None, None]
    if name == "bias_twice":
        return ref + bias
    if name == "bias_scaled_half":
        return ref - 0.5 * bias
    if name == "drop_last_channel":
        w = np.array(w, dtype=np.float64)
        w[:, -1] = 0
        return torch_conv(x, w, b, cfg)
    if name == "rounded_output":
        return np.round(ref)
    if name == "zeros_output":
        return np.zeros_like(ref)
    if name == "halved_output":
        return 0.5 * ref
    return ref  # returns_list, float32_for_float64, no_validation: the correct values


def run_one(stats, kind, name, f, cfg, dtype, x, w, b, ref, S):
    """Call one implementation on one configuration and fold the result into stats[name]."""
    st = stats[name]
    copies = [None if a is None else a.copy() for a in (x, w, b)]
    try:
        out = f(*copies, cfg["stride"], cfg["padding"], cfg["dilation"], cfg["groups"])
    except Exception as error:  # recorded, the run goes on
        st["errors"].append(f"{dtype}: {type(error).__name__}: {error}")
        return
    originals = zip((x, w, b), copies, strict=True)
    if any(a is not None and not np.array_equal(a, c) for a, c in originals):
        st["errors"].append(f"{dtype}: modified its inputs")
    want_dtype = np.float32 if name == "float32_for_float64" else x.dtype
    if name == "returns_list":
        st["type_ok"] &= type(out) is list
    else:
        st["type_ok"] &= type(out) is np.ndarray and out.dtype == want_dtype
    out = np.asarray(out, dtype=np.float64)
    if out.shape != ref.shape:
        st["errors"].append(f"{dtype}: shape {out.shape} != {ref.shape}")
        return
    diff = np.abs(out - ref).max()
    st["abs"][dtype] = max(st["abs"][dtype], diff)
    st["rel"][dtype] = max(st["rel"][dtype], diff / S)
    if kind == "buggy":  # distance from the bug's model rounded to the output dtype
        model = bug_model(name, ref, x, w, b, cfg).astype(want_dtype).astype(np.float64)
        st["model"] = max(st["model"], np.abs(out - model).max() / S / EPS[dtype])


def verdict(kind, st):
    if kind == "honest":
        ok = st["abs"]["float64"] < 1e-9 and all(st["rel"][d] <= 8 * EPS[d] for d in DTYPES[1:])
    elif kind == "narrow":
        ok = 0 < st["rel"]["float64"] <= 2.0**-7
    else:
        ok = st["model"] <= 4
    return ok and st["type_ok"] and not st["errors"]


def main(n_configs=200, seed=20240611):
    rng = np.random.default_rng(seed)
    kinds = {
        "honest": functions(honest_impls),
        "narrow": functions(narrow_impls),
        "buggy": functions(buggy_impls),
    }
    stats = {
        name: {
            "abs": dict.fromkeys(DTYPES, 0.0),
            "rel": dict.fromkeys(DTYPES, 0.0),
            "model": 0.0,
            "type_ok": True,
            "errors": [],
        }
        for impls in kinds.values()
        for name in impls
    }
    seen = Counter()
    start = time.time()
    for _ in range(n_configs):
        cfg = random_config(rng)
        seen.update(
            [f"padding {cfg['form']}"]
            + [
                key
                for key, hit in (
                    ("groups>1", cfg["groups"] > 1),
                    ("bias", cfg["b"] is not None),
                    ("stride>1", np.max(cfg["stride"]) > 1),
                    ("dilation>1", np.max(cfg["dilation"]) > 1),
                    ("even kernel", min(cfg["w"].shape[2:]) % 2 == 0),
                )
                if hit
            ]
        )
        for dtype in DTYPES:
            x, w = round_to_dtype(cfg["x"], dtype), round_to_dtype(cfg["w"], dtype)
            b = None if cfg["b"] is None else round_to_dtype(cfg["b"], dtype)
            ref = torch_conv(x, w, b, cfg)
            terms = torch_conv(np.abs(x), np.abs(w), None if b is None else np.abs(b), cfg)
            S = max(1.0, terms.max())
            for kind, impls in kinds.items():
                for name, f in impls.items():
                    run_one(stats, kind, name, f, cfg, dtype, x, w, b, ref, S)
    elapsed = time.time() - start

    print(
        f"{n_configs} random configurations, seed {seed}, {elapsed:.1f} s; with "
        + ", ".join(f"{key} {count}" for key, count in sorted(seen.items()))
    )
    print(
        f"{'kind':7}{'implementation':38}"
        + "".join(f"{d + ' abs':>13}" for d in DTYPES)
        + f"{'f64 err/S':>11}{'model/eps':>10}{'type':>6}  verdict"
    )
    failures = []
    for kind, impls in kinds.items():
        for name in impls:
            st = stats[name]
            ok = verdict(kind, st)
            failures += [] if ok else [name]
            model = f"{st['model']:10.2g}" if kind == "buggy" else " " * 10
            print(
                f"{kind:7}{name:38}"
                + "".join(f"{st['abs'][d]:13.3g}" for d in DTYPES)
                + f"{st['rel']['float64']:11.2g}{model}"
                + f"{'ok' if st['type_ok'] else 'BAD':>6}  {'ok' if ok else 'FAIL'}"
            )
            for line in st["errors"][:3]:
                print("        error:", line)
    failures += check_extras()
    print("\nall verdicts hold" if not failures else f"\nFAILED: {', '.join(failures)}")
    return 1 if failures else 0


def check_extras():
    """gradcheck of the custom autograd.Function; no_validation where torch raises."""
    failed = []
    rng = np.random.default_rng(7)
    for cfg in (
        {"stride": (2, 1), "padding": (1, 0), "dilation": (1, 2), "groups": 2},
        {"stride": 1, "padding": "same", "dilation": 2, "groups": 1},
    ):
        x, w = rng.normal(size=(2, 4, 6, 7)), rng.normal(size=(4, 4 // cfg["groups"], 2, 3))
        conv = honest_impls.ca.prepare(
            x, w, None, cfg["stride"], cfg["padding"], cfg["dilation"], cfg["groups"]
        )
        tensors = [torch.tensor(a, requires_grad=True) for a in (conv.xp, w, rng.normal(size=4))]

        def apply(xp, w, b, conv=conv):
            return honest_impls.UnfoldConv.apply(xp, w, b, conv.stride, conv.dilation, conv.groups)

        ok = torch.autograd.gradcheck(apply, tensors, raise_exception=False)
        print(f"gradcheck UnfoldConv (input, weight, bias) {cfg}: {'ok' if ok else 'FAIL'}")
        failed += [] if ok else ["torch_autograd_function backward"]
    refused = (
        ("C_in=5 with groups=2", (1, 5, 6, 6), (4, 2, 3, 3), 2),
        ("C_out=3 with groups=2", (1, 4, 6, 6), (3, 2, 3, 3), 2),
        ("5x5 kernel on 3x3 input", (1, 2, 3, 3), (2, 2, 5, 5), 1),
    )
    for what, x_shape, w_shape, groups in refused:
        x, w = rng.normal(size=x_shape), rng.normal(size=w_shape)
        try:
            torch_conv(x, w, None, {"stride": 1, "padding": 0, "dilation": 1, "groups": groups})
            print(f"torch accepted {what}: not a test of no_validation")
            failed.append("no_validation premise")
        except RuntimeError:
            pass
        try:
            out = buggy_impls.no_validation(x, w, None, groups=groups)
            print(f"no_validation on {what} (torch raises): returned shape {out.shape}")
        except Exception as error:
            print(f"no_validation on {what}: raised {type(error).__name__}: FAIL")
            failed.append("no_validation")
    return failed


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 200))
