"""Kernel orientations of any spatial rank, and the words that name spatial axes.

An orientation is one of the symmetries of an N-d box: the kernel's spatial axes permuted, then
flipped along any subset of them (2 in 1-D, 8 in 2-D, 48 in 3-D). The read kernel is
`np.flip(np.transpose(w, (0, 1, *perm + 2)), flips + 2)`: its axis i is the kernel's axis
perm[i], and `flips` are axes of the read kernel. 2-D keeps its own names (flip_h, rot180,
transpose, rot90, ...); other ranks are named by what they do: `flip_d`, `flip_hw`, `flip_dhw`,
`axes_whd` (axes permuted to (W, H, D)), `axes_whd_flip_d`. The order is the search's: identity,
flips along one axis, along several, along all, then the permutations (two axes swapped first),
alone and then flipped.
"""

from __future__ import annotations

import itertools
from functools import cache
from typing import NamedTuple

import numpy as np

from harness.cases.case import AXIS_NAMES


class Orientation(NamedTuple):
    words: str
    perm: tuple[int, ...]
    flips: tuple[int, ...]


_PLANE = {  # 2-D: the 8 symmetries of a rectangle, with their usual names
    "identity": Orientation("read as given", (0, 1), ()),
    "flip_h": Orientation("kernel flipped along H only (rows reversed)", (0, 1), (0,)),
    "flip_w": Orientation("kernel flipped along W only (columns reversed)", (0, 1), (1,)),
    "rot180": Orientation("kernel rotated 180 degrees (true convolution)", (0, 1), (0, 1)),
    "transpose": Orientation("kernel transposed (H and W swapped)", (1, 0), ()),
    "rot90": Orientation("kernel rotated 90 degrees", (1, 0), (1,)),
    "rot270": Orientation("kernel rotated 270 degrees", (1, 0), (0,)),
    "anti_transpose": Orientation("kernel transposed across the anti-diagonal", (1, 0), (0, 1)),
}


def axes_phrase(names: tuple[str, ...], axes) -> str:
    """The axes named in words: 'L', 'D only', 'H and W', 'D, H and W'."""
    chosen = [names[a] for a in axes]
    if len(chosen) == 1:
        return chosen[0] if len(names) == 1 else f"{chosen[0]} only"
    return ", ".join(chosen[:-1]) + " and " + chosen[-1]


def _subsets(rank: int) -> list[tuple[int, ...]]:
    """Non-empty subsets of the axes: one axis, then two, ... then all."""
    return [s for size in range(1, rank + 1) for s in itertools.combinations(range(rank), size)]


@cache
def orientations(rank: int) -> dict[str, Orientation]:
    """Every orientation of a kernel with `rank` spatial axes, in search order."""
    if rank == 2:
        return dict(_PLANE)
    names = AXIS_NAMES[rank]
    identity = tuple(range(rank))
    moved = sorted(
        (p for p in itertools.permutations(identity) if p != identity),
        key=lambda p: (sum(a != b for a, b in zip(p, identity, strict=True)), p),
    )
    table = {"identity": Orientation("read as given", identity, ())}
    for flips in _subsets(rank):
        letters = "".join(names[a] for a in flips).lower()
        words = f"kernel flipped along {axes_phrase(names, flips)}"
        if len(flips) == rank:
            words += " (true convolution)"
        table[f"flip_{letters}"] = Orientation(words, identity, flips)
    for flips in [(), *_subsets(rank)]:
        for perm in moved:
            read = ", ".join(names[a] for a in perm)
            name = "axes_" + "".join(names[a] for a in perm).lower()
            words = f"kernel axes permuted ({read})"
            if flips:
                name += "_flip_" + "".join(names[a] for a in flips).lower()
                words += f" and flipped along {axes_phrase(names, flips).removesuffix(' only')}"
            table[name] = Orientation(words, perm, flips)
    return table


def orientation_tier(orientation: Orientation) -> int:
    """How far down the search tries it: 0 for flips along one axis or all of them, 1 for two
    axes flipped or swapped, 2 for the rest (always 0 up to 2-D, which tries all 8 at once)."""
    rank = len(orientation.perm)
    if rank <= 2:
        return 0
    moved = sum(a != b for a, b in enumerate(orientation.perm))
    if moved == 0:
        return 0 if len(orientation.flips) in (1, rank) else 1
    return 1 if moved == 2 and not orientation.flips else 2


ORIENTATIONS = {name: o.words for name, o in _PLANE.items()}  # 2-D: name -> words


def orient(weight: np.ndarray, orientation: str) -> np.ndarray:
    """The kernel as an implementation with this orientation reads it."""
    rank = weight.ndim - 2
    _, perm, flips = orientations(rank)[orientation]
    w = np.transpose(weight, (0, 1, *(2 + a for a in perm)))
    return np.flip(w, tuple(2 + a for a in flips)) if flips else w


def oriented_kernel(kernel: tuple[int, ...], orientation: str) -> tuple[int, ...]:
    """The kernel's spatial size as read in this orientation."""
    perm = orientations(len(kernel))[orientation].perm
    return tuple(kernel[a] for a in perm)
