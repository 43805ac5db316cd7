"""Bug families: the ways each semantic of conv2d can be misapplied, and the search that fits them.

A cause of the vocabulary (harness.causes) is a family of readings of the configuration, with
parameters; a divergence is explained by the reading that reproduces the implementation's output.

Geometric families change how the output is read from the input (a `Reading`):
- kernel orientation (`kernel_flip`): any of the 7 other symmetries of a rectangle, per kernel;
- padding (`padding`): pads on the wrong side, off by one, one-sided, swapped between axes,
  'same' rounded the other way or taken from the undilated kernel, 'valid' read as 'same';
- stride (`stride`): another sampling phase (same shape or cropped), axes swapped, off by one;
- dilation (`dilation`): ignored, off by one either way, swapped, or applied to one axis;
- groups (`groups`): outputs interleaved over groups, input channels interleaved, groups reversed;
- boundary (`boundary`): the padding filled in another mode (zeros, reflect, replicate,
  circular, symmetric).
Value families are fitted, not enumerated: for a reading, the per-input-channel partial outputs
P_c and the bias b are combined as sum_c alpha_c P_c + beta B by least squares, and the fit is
snapped to what an implementation would do:
- depth (`depth_sum`): alpha all 1/C (averages), one-hot (one channel), 0/1 (a subset summed);
- bias (`bias`): beta 0 (missing), any other factor (scaled, added twice), or B the bias laid
  along another axis or in reverse channel order.
A fitted candidate explains the output when it reproduces it within the case's tolerance, or
within narrower arithmetic's (`precision`, harness.compare). Readings are tried with as few
families changed as possible (up to three, counting the fitted ones), the output's shape first
filtering what is computed: the per-axis size formula says which of padding, stride, dilation and
kernel shape can have been applied differently. Large cases are searched on a sample of the
output (the first image, a few output channels per group), so the answer does not depend on size.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field, replace

import numpy as np

from harness import reference
from harness.baseline import Baseline
from harness.cases import Case
from harness.causes import CAUSES
from harness.compare import Tolerance, compare, precision_models
from harness.data import CaseArrays

ORIENTATIONS = {
    "identity": "read as given",
    "flip_h": "kernel flipped along H only (rows reversed)",
    "flip_w": "kernel flipped along W only (columns reversed)",
    "rot180": "kernel rotated 180 degrees (true convolution)",
    "transpose": "kernel transposed (H and W swapped)",
    "rot90": "kernel rotated 90 degrees",
    "rot270": "kernel rotated 270 degrees",
    "anti_transpose": "kernel transposed across the anti-diagonal",
}
GROUP_MAPS = {
    "torch": "output channel o reads group o // (C_out/groups)",
    "interleaved_outputs": "output channel o reads group o % groups (not o // (C_out/groups))",
    "interleaved_inputs": "group g reads input channels g, g+groups, ... (not a contiguous block)",
    "reversed": "output channel o reads group groups-1 - o // (C_out/groups)",
}
BOUNDARY_MODES = ("zeros", "reflect", "replicate", "circular", "symmetric")
SEARCH_BUDGET = 300  # readings computed per explanation
SAMPLE_ELEMENTS = 200_000  # output elements x K above which the search runs on a sample


def orient(weight: np.ndarray, orientation: str) -> np.ndarray:
    w = weight
    if orientation in ("transpose", "rot90", "rot270", "anti_transpose"):
        w = np.swapaxes(w, 2, 3)
    flips = {"flip_h": (2,), "flip_w": (3,), "rot180": (2, 3), "rot90": (3,), "rot270": (2,),
             "anti_transpose": (2, 3)}.get(orientation, ())
    return np.flip(w, flips) if flips else w


@dataclass(frozen=True)
class Reading:
    """How an implementation reads the configuration (torch's reading by default)."""

    orientation: str
    pads: tuple[int, int, int, int]
    stride: tuple[int, int]
    phase: tuple[int, int]
    phase_fill: bool  # a phase keeps the output shape by reading zeros past the end
    dilation: tuple[int, int]
    groups_map: str
    mode: str

    @classmethod
    def of(cls, case: Case) -> Reading:
        return cls("identity", case.pads, case.stride, (0, 0), False, case.dilation, "torch",
                   case.padding_mode)

    def output_size(self, case: Case) -> tuple[int, int]:
        _, _, h, w = case.input_shape
        _, _, kh, kw = case.weight_shape
        if self.orientation in ("transpose", "rot90", "rot270", "anti_transpose"):
            kh, kw = kw, kh
        sizes = []
        for size, before, after, k, s, d, p in zip(
                (h, w), self.pads[0::2], self.pads[1::2], (kh, kw), self.stride, self.dilation,
                self.phase):
            padded = size + before + after - (0 if self.phase_fill else p)
            sizes.append((padded - d * (k - 1) - 1) // s + 1)
        return sizes[0], sizes[1]


@dataclass(frozen=True)
class Change:
    """One family's departure from torch's reading: its cause, fields and words."""

    cause: str
    fields: dict = field(hash=False, compare=False)
    finding: str = ""


def _pad_options(before: int, after: int, other: tuple[int, int], kernel: int, dilation: int,
                 padding) -> list[tuple[tuple[int, int], str]]:
    total = before + after
    same_total = dilation * (kernel - 1)
    options = []
    if padding == "same" or padding == "valid":
        raw = kernel - 1
        options.append(((raw // 2, raw - raw // 2), "'same' from the undilated kernel"))
    if padding == "valid":
        options.append(((same_total // 2, same_total - same_total // 2), "'valid' read as 'same'"))
    swapped_words = ("the extra pixel of 'same' before instead of after" if padding == "same"
                     else "on the opposite sides")
    options += [((after, before), swapped_words),
               ((before + 1, after), "one more before"), ((before, after + 1), "one more after"),
               ((before - 1, after), "one fewer before"), ((before, after - 1), "one fewer after"),
               ((before + 1, after + 1), "one more on both sides"),
               ((before - 1, after - 1), "one fewer on both sides"),
               ((0, total), "all after"), ((total, 0), "all before"), ((0, 0), "none"),
               (other, "taken from the other axis")]
    seen, kept = {(before, after)}, []
    for pair, words in options:
        if min(pair) >= 0 and pair not in seen:
            seen.add(pair)
            kept.append((pair, words))
    return kept


def geometric_changes(case: Case) -> dict[str, list[Change]]:
    """Every family's alternatives to torch's reading of this case, by family name."""
    base = Reading.of(case)
    top, bottom, left, right = base.pads
    _, _, kh, kw = case.weight_shape
    (sh, sw), (dh, dw) = case.stride, case.dilation
    changes: dict[str, list[Change]] = {}
    changes["orientation"] = [Change("kernel_flip", {"orientation": o}, words)
                              for o, words in ORIENTATIONS.items() if o != "identity"]
    stride = []
    for s_h, s_w in itertools.product(sorted({sh, max(1, sh - 1), sh + 1, sw}),
                                      sorted({sw, max(1, sw - 1), sw + 1, sh})):
        for p_h, p_w in itertools.product(range(s_h), range(s_w)):
            for fill in ((False, True) if (p_h or p_w) else (False,)):
                if (s_h, s_w, p_h, p_w) == (sh, sw, 0, 0):
                    continue
                words = []
                if (s_h, s_w) != (sh, sw):
                    words.append(f"stride applied as {(s_h, s_w)} instead of {(sh, sw)}")
                if p_h or p_w:
                    words.append(f"outputs sampled at i*s + {(p_h, p_w)} instead of i*s"
                                 + (" (zeros read past the end)" if fill else ""))
                stride.append(Change("stride", {"stride": (s_h, s_w), "phase": (p_h, p_w),
                                                "phase_fill": fill}, "; ".join(words)))
    changes["stride"] = stride
    padding = []
    for (h_pair, h_words), (w_pair, w_words) in itertools.product(
            [((top, bottom), "")] + _pad_options(top, bottom, (left, right), kh, dh, case.padding),
            [((left, right), "")] + _pad_options(left, right, (top, bottom), kw, dw,
                                                case.padding)):
        if not h_words and not w_words:
            continue
        pads = (*h_pair, *w_pair)
        words = "; ".join(f"{axis} {text}" for axis, text in (("H", h_words), ("W", w_words))
                          if text)
        padding.append(Change("padding", {"pads": pads},
                              f"pads (top, bottom, left, right) {pads} instead of {base.pads}: "
                              f"{words}"))
    changes["padding"] = padding
    dilation = []
    for d_h, d_w in itertools.product(sorted({dh, 1, max(1, dh - 1), dh + 1, dw}),
                                      sorted({dw, 1, max(1, dw - 1), dw + 1, dh})):
        if (d_h, d_w) == (dh, dw):
            continue
        words = ("dilation ignored (taps adjacent)" if (d_h, d_w) == (1, 1) else
                 f"taps {(d_h, d_w)} apart instead of {(dh, dw)}")
        dilation.append(Change("dilation", {"dilation": (d_h, d_w)}, words))
    changes["dilation"] = dilation
    changes["groups"] = [Change("groups", {"groups_map": m}, words)
                         for m, words in GROUP_MAPS.items() if m != "torch"] \
        if case.groups > 1 else []
    changes["boundary"] = [
        Change("boundary", {"mode": m},
               f"padding filled as '{m}' instead of '{case.padding_mode}'")
        for m in BOUNDARY_MODES if m != case.padding_mode] if any(base.pads) else []
    return changes


def readings(case: Case, observed_shape: tuple[int, ...], max_families: int = 3
             ) -> Iterator[tuple[Reading, tuple[Change, ...]]]:
    """Readings that give the observed shape, fewest families changed first."""
    base = Reading.of(case)
    n, c_out = case.output_shape[:2]
    if tuple(observed_shape[:2]) != (n, c_out) or len(observed_shape) != 4:
        return
    families = [changes for changes in geometric_changes(case).values() if changes]
    for size in range(0, max_families + 1):
        for chosen in itertools.combinations(families, size):
            for combo in itertools.product(*chosen):
                fields: dict = {}
                for change in combo:
                    fields.update(change.fields)
                if case.padding == "same" and "pads" not in fields:
                    fields["pads"] = _same_pads(case, fields)  # 'same' for the kernel as read
                reading = replace(base, **fields)
                if reading.output_size(case) == tuple(observed_shape[2:]):
                    yield reading, combo


def _same_pads(case: Case, fields: dict) -> tuple[int, int, int, int]:
    """'same' padding for the kernel an implementation reads (transposed, other dilation)."""
    _, _, kh, kw = case.weight_shape
    if fields.get("orientation") in ("transpose", "rot90", "rot270", "anti_transpose"):
        kh, kw = kw, kh
    dh, dw = fields.get("dilation", case.dilation)
    th, tw = dh * (kh - 1), dw * (kw - 1)
    return (th // 2, th - th // 2, tw // 2, tw - tw // 2)


def _group_of(reading: Reading, o: int, c_out: int, groups: int) -> int:
    og = c_out // groups
    if reading.groups_map == "interleaved_outputs":
        return o % groups
    if reading.groups_map == "reversed":
        return groups - 1 - o // og
    return o // og


def _input_channel(reading: Reading, g: int, c: int, cg: int, groups: int) -> int:
    return c * groups + g if reading.groups_map == "interleaved_inputs" else g * cg + c


def partials(case: Case, x: np.ndarray, w: np.ndarray, reading: Reading,
             outputs: list[int]) -> np.ndarray:
    """P[n, k, c, i, j]: output channel outputs[k] from its group's input channel c alone."""
    w = orient(w, reading.orientation)
    xp = reference.pad(x, reading.pads, reading.mode)
    ph, pw = reading.phase
    if ph or pw:
        if reading.phase_fill:
            xp = np.pad(xp, ((0, 0), (0, 0), (0, ph), (0, pw)))
        xp = xp[:, :, ph:, pw:]
    c_out, cg = w.shape[:2]
    groups = case.groups
    ho, wo = reading.output_size(case)
    result = np.zeros((x.shape[0], len(outputs), cg, ho, wo))
    by_group: dict[int, list[int]] = {}
    for k, o in enumerate(outputs):
        by_group.setdefault(_group_of(reading, o, c_out, groups), []).append(k)
    for g, ks in by_group.items():
        rows = [outputs[k] for k in ks]
        for c in range(cg):
            channel = xp[:, [_input_channel(reading, g, c, cg, groups)]]
            result[:, ks, c] = reference.conv2d(channel, w[rows][:, c:c + 1], None,
                                                reading.stride, 0, reading.dilation, 1)
    return result


@dataclass(frozen=True)
class Fit:
    """The value families fitted for one reading: the reproduction and what it took."""

    output: np.ndarray
    changes: tuple[Change, ...]


def _depth_change(alpha: np.ndarray) -> Change | None:
    """The depth finding for channel weights alpha (None for torch's plain sum)."""
    cg = alpha.size
    if np.array_equal(alpha, np.ones(cg)):
        return None
    if np.allclose(alpha, 1.0 / cg):
        return Change("depth_sum", {}, "averages the input channels of each group instead of "
                                       "summing them")
    kept = [int(c) for c in np.flatnonzero(alpha)]
    if not kept:
        return Change("depth_sum", {}, "adds up none of the input channels (a channel loop "
                                       "that never runs)")
    if len(kept) == 1:
        return Change("depth_sum", {}, f"uses only input channel {kept[0]} of each group's {cg}")
    dropped = [c for c in range(cg) if c not in kept]
    if len(dropped) <= 3:
        return Change("depth_sum", {}, f"leaves out input channel(s) {dropped} of each group's "
                                       f"{cg}")
    return Change("depth_sum", {}, f"sums only input channels {kept} of each group's {cg}")


def _snap_alpha(alpha: np.ndarray) -> np.ndarray | None:
    """A fitted alpha as what an implementation would use: all 1, all 1/C, or 0/1 per channel."""
    cg = alpha.size
    if cg == 1:
        nearest = float(np.round(alpha[0]))
        return np.full(1, nearest) if nearest in (0.0, 1.0) and abs(alpha[0] - nearest) < 0.02 \
            else None
    if np.allclose(alpha, 1.0 / cg, atol=0.02 / cg):
        return np.full(cg, 1.0 / cg)
    snapped = np.round(alpha)
    if np.allclose(alpha, snapped, atol=0.02) and set(snapped.tolist()) <= {0.0, 1.0}:
        return snapped
    return None


def _structured_alphas(cg: int) -> list[np.ndarray]:
    """The depth bugs to try when the sample cannot determine one weight per channel."""
    alphas = [np.ones(cg), np.zeros(cg)]
    if cg > 1:
        alphas.append(np.full(cg, 1.0 / cg))
        eye = np.eye(cg)
        alphas += list(eye) + list(1.0 - eye)
    return alphas


NICE_FACTORS = (1.0, 0.0, 2.0, 0.5, -1.0, 3.0)


def _snap_beta(beta: float) -> float:
    for nice in NICE_FACTORS:
        if abs(beta - nice) < 1e-3:
            return nice
    return float(f"{beta:.3g}")


def _bias_layouts(case: Case, bias: np.ndarray, outputs: list[int], shape) -> list:
    """(B laid out over the sampled output, words) for torch's layout and the wrong ones."""
    n, k, ho, wo = shape
    layouts = [(np.broadcast_to(bias[outputs][None, :, None, None], shape), "")]
    layouts.append((np.broadcast_to(bias[::-1][outputs][None, :, None, None], shape),
                    "bias applied in reverse channel order"))
    if ho == bias.size:
        layouts.append((np.broadcast_to(bias[None, None, :, None], shape), "bias added along H"))
    if wo == bias.size:
        layouts.append((np.broadcast_to(bias[None, None, None, :], shape), "bias added along W"))
    return layouts


def fit_values(case: Case, part: np.ndarray, bias: np.ndarray | None, outputs: list[int],
               observed: np.ndarray, allowed: np.ndarray) -> Iterator[Fit]:
    """Candidate reproductions of `observed` (sampled like `part`) from the partial outputs.

    For each bias layout, the channel weights alpha and the bias factor beta are fitted by least
    squares weighted by 1 / allowed (so elements with a large allowance, next to a large bias,
    do not drown the others); when the sample has too few elements to determine one weight per
    channel, the structured depth bugs are ranked by their residual instead.
    """
    n, k, cg, ho, wo = part.shape
    shape = (n, k, ho, wo)
    finite = np.isfinite(observed) & np.isfinite(part).all(axis=2) & np.isfinite(allowed)
    if not finite.any():
        return
    weights = 1.0 / np.maximum(allowed[finite], np.finfo(float).tiny)
    columns = part.transpose(0, 1, 3, 4, 2)[finite] * weights[:, None]
    target = observed[finite] * weights
    layouts = [(None, "")] if bias is None else _bias_layouts(case, bias, outputs, shape)
    determined = target.size >= 2 * (cg + 1)
    for layout, words in layouts:
        column = None if layout is None else layout[finite] * weights
        alphas = []
        if determined:
            design = columns if column is None else np.column_stack([columns, column])
            fitted = _snap_alpha(np.linalg.lstsq(design, target, rcond=None)[0][:cg])
            if fitted is not None:
                alphas.append(fitted)
        ranked = []
        for alpha in _structured_alphas(cg):
            residual = target - columns @ alpha
            beta = 0.0 if column is None else _least_squares_factor(column, residual)
            misfit = residual - (0.0 if column is None else beta * column)
            ranked.append((float(misfit @ misfit), len(ranked), alpha))
        alphas += [alpha for _, _, alpha in sorted(ranked, key=lambda r: r[:2])[:2]]
        seen: list[np.ndarray] = []
        for alpha in alphas:
            if any(np.array_equal(alpha, other) for other in seen):
                continue
            seen.append(alpha)
            output = np.einsum("nkcij,c->nkij", part, alpha)
            depth = _depth_change(alpha)
            changes = [] if depth is None else [depth]
            if layout is None:
                yield Fit(output, tuple(changes))
                continue
            residual = target - columns @ alpha
            fitted = _snap_beta(_least_squares_factor(column, residual))
            if fitted not in NICE_FACTORS and target.size < 8 * (cg + 1):
                fitted = 1.0  # too few elements to tell an odd bias factor from anything else
            for beta in dict.fromkeys((1.0, fitted)):  # the bias as given first
                bias_change = [Change("bias", {}, _bias_words(beta, words))] \
                    if beta != 1.0 or words else []
                yield Fit(output + beta * layout, (*changes, *bias_change))


def _least_squares_factor(column: np.ndarray, target: np.ndarray) -> float:
    norm = float(column @ column)
    return float(column @ target) / norm if norm else 1.0


def _bias_words(beta: float, layout_words: str) -> str:
    scale = {0.0: "bias not added", 2.0: "bias added twice", 3.0: "bias added three times",
             -1.0: "bias subtracted"}.get(beta, f"bias scaled by {beta:g}")
    if not layout_words:
        return scale
    return layout_words if beta == 1.0 else f"{layout_words}, {scale}"


@dataclass(frozen=True)
class FamilyExplanation:
    """The changes that reproduce an output: one per family, in vocabulary order."""

    changes: tuple[Change, ...]
    arithmetic: str = ""  # the narrower arithmetic it also took, if any

    @property
    def causes(self) -> list[str]:
        present = {c.cause for c in self.changes} | ({"precision"} if self.arithmetic else set())
        return [c for c in CAUSES if c in present]

    @property
    def findings(self) -> list[str]:
        words = [c.finding for c in self.changes]
        if self.arithmetic:
            words.append(f"rounding as of {self.arithmetic} arithmetic")
        return words


def sample_plan(case: Case, observed_shape) -> tuple[list[int], list[int]]:
    """(images, output channels) the search computes: everything, or a sample of large cases."""
    n, c_out = case.output_shape[:2]
    size = int(np.prod(observed_shape)) * max(case.reduction_length, 1)
    if size <= SAMPLE_ELEMENTS:
        return list(range(n)), list(range(c_out))
    og = c_out // case.groups
    per_group = sorted({0, og - 1})
    groups = sorted({0, case.groups - 1, case.groups // 2})
    outputs = sorted({g * og + k for g in groups for k in per_group})
    return [0], outputs


def explain_by_families(case: Case, arrays: CaseArrays, observed: np.ndarray,
                        baseline: Baseline, budget: int = SEARCH_BUDGET
                        ) -> FamilyExplanation | None:
    """The reading and fitted values with the fewest families that reproduce `observed`."""
    if observed.ndim != 4 or observed.shape[:2] != tuple(case.output_shape[:2]):
        return None
    images, outputs = sample_plan(case, observed.shape)
    x = arrays.input64[images]
    sample = observed[images][:, outputs]
    models = [("", baseline.tolerance)] + [
        (model.name, baseline.tolerance_for(model))
        for model in precision_models(baseline.dtype, case.reduction_length)]
    tolerances = [(name, _sampled_tolerance(tol, images, outputs, observed.shape))
                  for name, tol in models]
    allowed = tolerances[0][1].rtol * np.abs(baseline.output[images][:, outputs]) \
        + tolerances[0][1].atol if sample.shape == baseline.output[images][:, outputs].shape \
        else np.ones(sample.shape)
    best = None  # ((families, uses narrower arithmetic), explanation)
    tried = 0
    for reading, combo in readings(case, observed.shape):
        if best is not None and (len(combo), False) >= best[0]:
            break  # readings only get more complex from here
        tried += 1
        if tried > budget:
            break
        try:
            part = partials(case, x, arrays.weight64, reading, outputs)
        except ValueError:
            continue
        for fit in fit_values(case, part, arrays.bias64, outputs, sample, allowed):
            changes = (*combo, *fit.changes)
            causes = {c.cause for c in changes}
            for name, tol in tolerances:
                if not changes and not name:
                    continue  # torch's own reading in the case's arithmetic: no explanation
                cost = (len(causes) + (1 if name else 0), bool(name))
                if len(causes) > 3 or (best is not None and cost >= best[0]):
                    continue
                if compare(sample, fit.output, tol).agree:
                    ordered = sorted(changes, key=lambda c: list(CAUSES).index(c.cause))
                    best = (cost, FamilyExplanation(tuple(ordered), name))
                    break
    return None if best is None else best[1]


def _sampled_tolerance(tol: Tolerance, images, outputs, shape) -> Tolerance:
    """The tolerance restricted to the sample; the loosest element's where shapes differ."""
    atol = np.asarray(tol.atol)
    if atol.ndim == 4 and atol.shape == tuple(shape):
        atol = atol[images][:, outputs]
    else:
        atol = np.asarray(float(np.max(atol, initial=0.0)))
    return replace(tol, atol=atol, exact=None)
