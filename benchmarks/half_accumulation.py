"""How torch's CPU kernels accumulate float16 and bfloat16 gradients and transposed outputs: the
measurements behind the blocked-accumulation term of harness.verdicts.compare's rounding model.

    python benchmarks/half_accumulation.py [--draws N]

For each dtype (float16; bfloat16 through mkldnn and with mkldnn disabled, the im2col path a CPU
without AVX-512 BF16 takes) and each quantity (grad_input, grad_weight and grad_bias of
F.conv1d/2d/3d by autograd, the output of F.conv_transpose1d/2d/3d), the worst
|torch - exact| / (|y| + q) in units of the dtype's unit roundoff, where exact is float64 on the
same rounded inputs and q the root sum of squared products. One rounding of the result gives up to
0.5; float32 accumulation adds nothing visible; a column is blocked when it grows with the
number of blocks B (taps for grad_input and the transposed output, batch images N for
grad_weight), as about sqrt(B).
"""

from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F

CONVS = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
TRANSPOSED = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}
UNIT = {torch.float16: 2.0**-11, torch.bfloat16: 2.0**-8}
SIDES = {1: 64, 2: 12, 3: 6}  # a spatial size per rank


def _worst(got: torch.Tensor, exact: torch.Tensor, norm: torch.Tensor, unit: float) -> float:
    error = (got.double() - exact).abs() / (exact.abs() + norm)
    return float(error.max()) / unit


def conv_errors(dtype, rank: int, n: int, kernel: int, draws: int) -> dict[str, float]:
    """Worst error of grad_input, grad_weight, grad_bias (units of u) over `draws` draws."""
    worst = {"grad_input": 0.0, "grad_weight": 0.0, "grad_bias": 0.0}
    conv = CONVS[rank]
    for _ in range(draws):
        x = torch.randn((n, 4) + (SIDES[rank],) * rank).to(dtype)
        w = torch.randn((4, 4) + (kernel,) * rank).to(dtype)
        b = torch.randn(4).to(dtype)
        native = [t.clone().requires_grad_() for t in (x, w, b)]
        y = conv(*native)
        g = torch.randn(y.shape).to(dtype)
        y.backward(g)
        exact = [t.double().requires_grad_() for t in (x, w, b)]
        conv(*exact).backward(g.double())
        squares = [t.double().square().requires_grad_() for t in (x, w, b)]
        conv(*squares).backward(g.double().square())
        for name, a, e, s in zip(worst, native, exact, squares, strict=True):
            unit = UNIT[dtype]
            worst[name] = max(worst[name], _worst(a.grad, e.grad, s.grad.sqrt(), unit))
    return worst


def transposed_error(dtype, rank: int, n: int, kernel: int, draws: int) -> float:
    worst = 0.0
    transpose = TRANSPOSED[rank]
    for _ in range(draws):
        x = torch.randn((n, 4) + (SIDES[rank],) * rank).to(dtype)
        w = torch.randn((4, 4) + (kernel,) * rank).to(dtype)
        y = transpose(x, w, stride=2)
        exact = transpose(x.double(), w.double(), stride=2)
        norm = transpose(x.double().square(), w.double().square(), stride=2).sqrt()
        worst = max(worst, _worst(y, exact, norm, UNIT[dtype]))
    return worst


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=3)
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    torch.set_num_threads(1)
    paths = ((torch.float16, True), (torch.bfloat16, True), (torch.bfloat16, False))
    header = f"{'dtype':9s} {'mkldnn':6s} {'rank':>4s} {'N':>4s} {'taps':>5s}"
    columns = f"{'grad_input':>10s} {'grad_weight':>11s} {'grad_bias':>9s} {'transposed':>10s}"
    print(f"{header} {columns}")
    for dtype, mkldnn in paths:
        torch.backends.mkldnn.enabled = mkldnn
        for rank in (1, 2, 3):
            for n, kernel in ((1, 1), (1, 3), (4, 3), (16, 3), (64, 3), (4, 5)):
                if rank == 3 and n > 16:
                    continue
                e = conv_errors(dtype, rank, n, kernel, args.draws)
                t = transposed_error(dtype, rank, n, kernel, args.draws)
                name = str(dtype).removeprefix("torch.")
                row = f"{name:9s} {mkldnn!s:6s} {rank:4d} {n:4d} {kernel**rank:5d}"
                print(
                    f"{row} {e['grad_input']:10.2f} {e['grad_weight']:11.2f} "
                    f"{e['grad_bias']:9.2f} {t:10.2f}"
                )
    torch.backends.mkldnn.enabled = True
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
