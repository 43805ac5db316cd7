"""Plug-ins for the gradients and transposed convolutions, written from the plug-in contract
(README "The backward pass and transposed convolution", docs/contracts.md Implementations)
without reading how the harness explains a divergence. Each module defines the operations of
ONE rank; each buggy operation has one planted mistake, in one family, seen in the quantities
listed. Styles: tap loops (`_taps`), im2col + matmul (`_im2col`), FFT (`_fft`), torch.autograd
through a misconfigured F.conv_transposeNd, a custom torch.autograd.Function with
`accepts_tensors` (`_torch_styles`). Cases: tests/data/gradient_cases/<family>.yaml, one conv
case (gb_<family>_<r>d_conv) and one transposed case (gb_<family>_<r>d_transposed) per rank.

Quantities: T = conv_transpose output, GI/GW/GB = conv's grad_input/grad_weight/grad_bias,
TGI/TGW/TGB = the transposed convolution's. Every quantity not listed for a module is right
(status ok); `EXPECTED` below is this table as data.

| module | operation (style) | planted mistake | quantities | cause |
| --- | --- | --- | --- | --- |
| groups_1d | conv1d_backward (taps) | grad_weight reads input group o % groups | GW | groups |
| | conv_transpose1d (F + regroup) | output channel o from group o % groups | T | groups |
| | conv_transpose1d_backward (taps) | grad_input: group g reads g, g+G, ... | TGI | groups |
| groups_2d | conv2d_backward (im2col) | grad_input: outputs as (C_out/G, G) | GI | groups |
| | conv_transpose2d (taps) | input channel c in group c % groups | T | groups |
| | conv_transpose2d_backward (taps) | grad_weight: group g with g, g+G, ... | TGW | groups |
| groups_3d | conv3d_backward (taps) | grad_input sums outputs g, g+G, ... | GI | groups |
| | conv_transpose3d (taps) | outputs interleaved over groups | T | groups |
| | conv_transpose3d_backward (autograd) | forward's outputs regrouped | TGI, TGW | groups |
| dilation_1d | conv1d_backward (taps) | grad_input ignores dilation 3 | GI | dilation |
| | conv_transpose1d (F, dilation=1) | dilation ignored: shorter output | T | dilation |
| | conv_transpose1d_backward (taps) | grad_weight's dilation one larger | TGW | dilation |
| dilation_2d | conv2d_backward (taps) | grad_weight's dilation 3 read as 2 on W | GW | dilation |
| | conv_transpose2d (taps) | dilation one larger on H: taller output | T | dilation |
| | conv_transpose2d_backward (taps) | grad_input ignores dilation | TGI | dilation |
| dilation_3d | conv3d_backward (taps) | grad_input's dilation one larger on W | GI | dilation |
| | conv_transpose3d (FFT) | dilation ignored | T | dilation |
| | conv_transpose3d_backward (taps) | grad_weight ignores dilation | TGW | dilation |
| stride_1d | conv1d_backward (FFT) | zeros of stride 3 inserted at phase 1 | GI | stride |
| | conv_transpose1d (F, stride + 1) | wrong step: longer output | T | stride |
| | conv_transpose1d_backward (taps) | grad_weight steps s + 1 | TGW | stride |
| stride_2d | conv2d_backward (taps) | grad_weight steps 2 instead of 3 on W | GW | stride |
| | conv_transpose2d (FFT) | samples at j*3 + 1 on W only | T | stride |
| | conv_transpose2d_backward (taps) | grad_input reads j*3 + 1 on W only | TGI | stride |
| stride_3d | conv3d_backward (taps) | zeros inserted one late on D only | GI | stride |
| | conv_transpose3d (taps) | outputs at l*2 + 1 on W only | T | stride |
| | conv_transpose3d_backward (taps) | grad_input steps 3 instead of 2 on W | TGI | stride |
| padding_1d | conv1d_backward (taps) | grad_weight: padding taken after the input | GW | padding |
| | conv_transpose1d (taps) | output_padding ignored | T | padding |
| | conv_transpose1d_backward (taps) | grad_input: padding cropped at the end | TGI | padding |
| padding_2d | conv2d_backward (taps) | grad_input: H's padding after the input | GI | padding |
| | conv_transpose2d (FFT) | output_padding's row put first | T | padding |
| | conv_transpose2d_backward (autograd) | output_padding's row first | TGI, TGW | padding |
| padding_3d | conv3d_backward (taps) | grad_weight: H's padding after the input | GW | padding |
| | conv_transpose3d (taps) | D's padding cropped at the end | T | padding |
| | conv_transpose3d_backward (taps) | output_padding's plane first (W) | TGI | padding |
| depth_1d | conv1d_backward (im2col) | grad_input drops each group's last output | GI | depth_sum |
| | conv_transpose1d (taps) | input channels averaged | T | depth_sum |
| | conv_transpose1d_backward (taps) | grad_weight averaged over the batch | TGW | depth_sum |
| depth_2d | conv2d_backward (taps) | grad_weight drops the last image | GW | depth_sum |
| | conv_transpose2d (taps) | last input channel of each group dropped | T | depth_sum |
| | conv_transpose2d_backward (taps) | grad_input drops the last output channel | TGI | depth_sum |
| depth_3d | conv3d_backward (taps) | grad_input averages the output channels | GI | depth_sum |
| | conv_transpose3d (F on C_in - 1 channels) | last input channel dropped | T | depth_sum |
| | conv_transpose3d_backward (taps) | grad_weight drops the last image | TGW | depth_sum |
| bias_1d | conv1d_backward (taps) | grad_bias a mean | GB | bias |
| | conv_transpose1d (FFT) | bias missing | T | bias |
| | conv_transpose1d_backward (taps) | grad_bias a mean | TGB | bias |
| bias_2d | conv2d (autograd.Function) | grad_bias a mean (forward right) | GB | bias |
| | conv_transpose2d (F without bias) | bias missing | T | bias |
| | conv_transpose2d_backward (taps) | grad_bias a mean | TGB | bias |
| bias_3d | conv3d_backward (im2col) | grad_bias a mean | GB | bias |
| | conv_transpose3d (taps) | bias missing | T | bias |
| | conv_transpose3d_backward (taps) | grad_bias a mean | TGB | bias |
| kernel_1d | conv1d (autograd.Function) | grad_input with the kernel reversed | GI | kernel_flip |
| | conv_transpose1d (FFT) | kernel not reversed | T | kernel_flip |
| | conv_transpose1d_backward (taps) | grad_weight written reversed | TGW | kernel_flip |
| kernel_2d | conv2d_backward (im2col) | kernel rows and columns swapped | GI, GW | kernel_flip |
| | conv_transpose2d (taps) | kernel read transposed | T | kernel_flip |
| | conv_transpose2d_backward (taps) | grad_input: kernel flipped along H only | TGI | kernel_flip |
| kernel_3d | conv3d_backward (taps) | grad_input: kernel flipped along D only | GI | kernel_flip |
| | conv_transpose3d (F, kernel flipped on W) | kernel mirrored along W | T | kernel_flip |
| | conv_transpose3d_backward (taps) | grad_input: kernel rotated | TGI | kernel_flip |
| conj_1d | conv1d_backward (taps) | grad_input reads w, torch conj(w) (JAX's) | GI | conjugation |
| | conv_transpose1d (FFT) | kernel conjugated | T | conjugation |
| | conv_transpose1d_backward (taps) | grad_weight reads x, torch conj(x) | TGW | conjugation |
| conj_2d | conv2d (autograd.Function) | grad_weight reads x, torch conj(x) | GW | conjugation |
| | conv_transpose2d (taps) | kernel conjugated | T | conjugation |
| | conv_transpose2d_backward (autograd) | grad_input reads w, torch conj(w) | TGI | conjugation |
| conj_3d | conv3d_backward (autograd, JAX's vjp) | no conjugation at all | GI, GW | conjugation |
| | conv_transpose3d (taps) | kernel conjugated | T | conjugation |
| | conv_transpose3d_backward (taps) | grad_input reads w, torch conj(w) | TGI | conjugation |
| rounding_float32_2d | rank-2 ops (torch in float32) | float32 on float64 | all | precision |
| only_transpose_backward_2d | conv_transpose2d_backward | kernel rotated | TGI | kernel_flip |
| correct_taps_1d | conv1d_backward, conv_transpose1d(_backward) (taps) | none | all | ok |
| correct_matmul_fft_2d | im2col backward, FFT transposed, autograd | none | all | ok |
| correct_function_3d | autograd.Function conv3d, FFT, taps | none | all | ok |
"""

from __future__ import annotations

FAMILIES = ("groups", "dilation", "stride", "padding", "depth", "bias", "kernel", "conj")
CAUSE = {"depth": "depth_sum", "kernel": "kernel_flip", "conj": "conjugation"}
CONV_QUANTITIES = ("grad_input", "grad_weight", "grad_bias")
TRANSPOSED_QUANTITIES = ("output", "grad_input", "grad_weight", "grad_bias")

# (family, rank) -> (bugged quantities of the conv case, of the transposed case,
#                    whether the module defines conv{r}d itself (autograd.Function))
_BUGGED = {
    ("groups", 1): (("grad_weight",), ("output", "grad_input"), False),
    ("groups", 2): (("grad_input",), ("output", "grad_weight"), False),
    ("groups", 3): (("grad_input",), ("output", "grad_input", "grad_weight"), False),
    ("dilation", 1): (("grad_input",), ("output", "grad_weight"), False),
    ("dilation", 2): (("grad_weight",), ("output", "grad_input"), False),
    ("dilation", 3): (("grad_input",), ("output", "grad_weight"), False),
    ("stride", 1): (("grad_input",), ("output", "grad_weight"), False),
    ("stride", 2): (("grad_weight",), ("output", "grad_input"), False),
    ("stride", 3): (("grad_input",), ("output", "grad_input"), False),
    ("padding", 1): (("grad_weight",), ("output", "grad_input"), False),
    ("padding", 2): (("grad_input",), ("output", "grad_input", "grad_weight"), False),
    ("padding", 3): (("grad_weight",), ("output", "grad_input"), False),
    ("depth", 1): (("grad_input",), ("output", "grad_weight"), False),
    ("depth", 2): (("grad_weight",), ("output", "grad_input"), False),
    ("depth", 3): (("grad_input",), ("output", "grad_weight"), False),
    ("bias", 1): (("grad_bias",), ("output", "grad_bias"), False),
    ("bias", 2): (("grad_bias",), ("output", "grad_bias"), True),
    ("bias", 3): (("grad_bias",), ("output", "grad_bias"), False),
    ("kernel", 1): (("grad_input",), ("output", "grad_weight"), True),
    ("kernel", 2): (("grad_input", "grad_weight"), ("output", "grad_input"), False),
    ("kernel", 3): (("grad_input",), ("output", "grad_input"), False),
    ("conj", 1): (("grad_input",), ("output", "grad_weight"), False),
    ("conj", 2): (("grad_weight",), ("output", "grad_input"), True),
    ("conj", 3): (("grad_input", "grad_weight"), ("output", "grad_input"), False),
}
# the transposed case of padding_2d has no bias (putting output_padding's row first moves
# grad_bias's window too)
_NO_BIAS = {"gb_padding_2d_transposed"}


def _rows(case_id, quantities, bugged, cause, forward_defined=True):
    rows = {}
    for quantity in quantities:
        if quantity == "grad_bias" and case_id in _NO_BIAS:
            continue
        if quantity == "output" and not forward_defined:
            continue
        rows[quantity] = cause if quantity in bugged else "ok"
    return rows


def _expected() -> dict[str, dict[str, dict[str, str]]]:
    """module -> case id -> quantity -> expected cause ('ok': the row's status is ok)."""
    table: dict[str, dict[str, dict[str, str]]] = {}
    for (family, rank), (conv_bugs, transposed_bugs, defines_conv) in _BUGGED.items():
        cause = CAUSE.get(family, family)
        conv_id, transposed_id = f"gb_{family}_{rank}d_conv", f"gb_{family}_{rank}d_transposed"
        table[f"{family}_{rank}d"] = {
            conv_id: _rows(conv_id, ("output", *CONV_QUANTITIES), conv_bugs, cause, defines_conv),
            transposed_id: _rows(transposed_id, TRANSPOSED_QUANTITIES, transposed_bugs, cause),
        }
    every = {"output", *CONV_QUANTITIES}
    table["rounding_float32_2d"] = {
        "gb_rounding_2d_conv": _rows("gb_rounding_2d_conv", CONV_QUANTITIES, every, "precision"),
        "gb_rounding_2d_transposed": _rows(
            "gb_rounding_2d_transposed", TRANSPOSED_QUANTITIES, every, "precision"
        ),
    }
    table["only_transpose_backward_2d"] = {
        "gb_kernel_2d_transposed": _rows(
            "gb_kernel_2d_transposed", CONV_QUANTITIES, {"grad_input"}, "kernel_flip"
        )
    }
    return table


EXPECTED = _expected()
# correct plug-ins: (module, rank); every case of that rank, every quantity ok
CORRECT = (("correct_taps_1d", 1), ("correct_matmul_fft_2d", 2), ("correct_function_3d", 3))
