"""Geometric bug families: the readings of a configuration an implementation may apply.

A Reading is how an implementation reads the case: the kernel's orientation (any of the 8
symmetries of a rectangle), the pads on each side, the stride and sampling phase, the dilation,
the mapping of output channels to groups of input channels, and the padding mode. `readings`
enumerates them with as few families changed as possible, keeping only those that give the
observed output shape; `partials` computes, for one reading, each input channel's contribution
to each output channel (what harness.families fits depth and bias to).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field, replace

import numpy as np

from harness import reference
from harness.case import Case

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


def orient(weight: np.ndarray, orientation: str) -> np.ndarray:
    w = weight
    if orientation in ("transpose", "rot90", "rot270", "anti_transpose"):
        w = np.swapaxes(w, 2, 3)
    flips = {
        "flip_h": (2,),
        "flip_w": (3,),
        "rot180": (2, 3),
        "rot90": (3,),
        "rot270": (2,),
        "anti_transpose": (2, 3),
    }.get(orientation, ())
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
        return cls(
            "identity",
            case.pads,
            case.stride,
            (0, 0),
            False,
            case.dilation,
            "torch",
            case.padding_mode,
        )

    def output_size(self, case: Case) -> tuple[int, int]:
        _, _, h, w = case.input_shape
        _, _, kh, kw = case.weight_shape
        if self.orientation in ("transpose", "rot90", "rot270", "anti_transpose"):
            kh, kw = kw, kh
        sizes = []
        for size, before, after, k, s, d, p in zip(
            (h, w),
            self.pads[0::2],
            self.pads[1::2],
            (kh, kw),
            self.stride,
            self.dilation,
            self.phase,
            strict=True,
        ):
            padded = size + before + after - (0 if self.phase_fill else p)
            sizes.append((padded - d * (k - 1) - 1) // s + 1)
        return sizes[0], sizes[1]


@dataclass(frozen=True)
class Change:
    """One family's departure from torch's reading: its cause, fields and words."""

    cause: str
    fields: dict = field(hash=False, compare=False)
    finding: str = ""


def _pad_options(
    before: int, after: int, other: tuple[int, int], kernel: int, dilation: int, padding
) -> list[tuple[tuple[int, int], str]]:
    total = before + after
    same_total = dilation * (kernel - 1)
    options = []
    if padding == "same" or padding == "valid":
        raw = kernel - 1
        options.append(((raw // 2, raw - raw // 2), "'same' from the undilated kernel"))
    if padding == "valid":
        options.append(((same_total // 2, same_total - same_total // 2), "'valid' read as 'same'"))
    swapped_words = (
        "the extra pixel of 'same' before instead of after"
        if padding == "same"
        else "on the opposite sides"
    )
    options += [
        ((after, before), swapped_words),
        ((before + 1, after), "one more before"),
        ((before, after + 1), "one more after"),
        ((before - 1, after), "one fewer before"),
        ((before, after - 1), "one fewer after"),
        ((before + 1, after + 1), "one more on both sides"),
        ((before - 1, after - 1), "one fewer on both sides"),
        ((0, total), "all after"),
        ((total, 0), "all before"),
        ((0, 0), "none"),
        (other, "taken from the other axis"),
    ]
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
    changes["orientation"] = [
        Change("kernel_flip", {"orientation": o}, words)
        for o, words in ORIENTATIONS.items()
        if o != "identity"
    ]
    stride = []
    for s_h, s_w in itertools.product(
        sorted({sh, max(1, sh - 1), sh + 1, sw}), sorted({sw, max(1, sw - 1), sw + 1, sh})
    ):
        for p_h, p_w in itertools.product(range(s_h), range(s_w)):
            for fill in (False, True) if (p_h or p_w) else (False,):
                if (s_h, s_w, p_h, p_w) == (sh, sw, 0, 0):
                    continue
                words = []
                if (s_h, s_w) != (sh, sw):
                    words.append(f"stride applied as {(s_h, s_w)} instead of {(sh, sw)}")
                if p_h or p_w:
                    words.append(
                        f"outputs sampled at i*s + {(p_h, p_w)} instead of i*s"
                        + (" (zeros read past the end)" if fill else "")
                    )
                stride.append(
                    Change(
                        "stride",
                        {"stride": (s_h, s_w), "phase": (p_h, p_w), "phase_fill": fill},
                        "; ".join(words),
                    )
                )
    changes["stride"] = stride
    padding = []
    for (h_pair, h_words), (w_pair, w_words) in itertools.product(
        [((top, bottom), ""), *_pad_options(top, bottom, (left, right), kh, dh, case.padding)],
        [((left, right), ""), *_pad_options(left, right, (top, bottom), kw, dw, case.padding)],
    ):
        if not h_words and not w_words:
            continue
        pads = (*h_pair, *w_pair)
        sides = "; ".join(
            f"{axis} {text}" for axis, text in (("H", h_words), ("W", w_words)) if text
        )
        padding.append(
            Change(
                "padding",
                {"pads": pads},
                f"pads (top, bottom, left, right) {pads} instead of {base.pads}: {sides}",
            )
        )
    changes["padding"] = padding
    dilation = []
    for d_h, d_w in itertools.product(
        sorted({dh, 1, max(1, dh - 1), dh + 1, dw}), sorted({dw, 1, max(1, dw - 1), dw + 1, dh})
    ):
        if (d_h, d_w) == (dh, dw):
            continue
        spacing = (
            "dilation ignored (taps adjacent)"
            if (d_h, d_w) == (1, 1)
            else f"taps {(d_h, d_w)} apart instead of {(dh, dw)}"
        )
        dilation.append(Change("dilation", {"dilation": (d_h, d_w)}, spacing))
    changes["dilation"] = dilation
    changes["groups"] = (
        [
            Change("groups", {"groups_map": m}, words)
            for m, words in GROUP_MAPS.items()
            if m != "torch"
        ]
        if case.groups > 1
        else []
    )
    changes["boundary"] = (
        [
            Change(
                "boundary", {"mode": m}, f"padding filled as '{m}' instead of '{case.padding_mode}'"
            )
            for m in BOUNDARY_MODES
            if m != case.padding_mode
        ]
        if any(base.pads)
        else []
    )
    return changes


def readings(
    case: Case, observed_shape: tuple[int, ...], max_families: int = 3
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


def partials(
    case: Case, x: np.ndarray, w: np.ndarray, reading: Reading, outputs: list[int]
) -> np.ndarray:
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
            result[:, ks, c] = reference.conv2d(
                channel, w[rows][:, c : c + 1], None, reading.stride, 0, reading.dilation, 1
            )
    return result
