"""The HTML page's heatmaps: |implementation - baseline| over the worst slice as a small PNG.

The worst slice is the 2-D map holding the worst element (the greatest |difference|, NaN counting
as the greatest): out[n, c] of a 2-D output (or grad_weight[o, c]), the row out[n, c, :] of a 1-D
one, the depth slice out[n, c, d] of a 3-D one, and a 1-D array (grad_bias) as one row. A map
larger than MAX_CELLS along an axis is cropped around the worst element. Each cell is a square of
pixels (nearest-neighbour upscaling), white for 0 to dark red for the slice's greatest finite
difference, grey for NaN, black for an infinite one; the worst cell is outlined in blue. The PNG is
encoded here with zlib and struct (8-bit RGB, filter 0), so the page needs no plotting library.
"""

from __future__ import annotations

import base64
import struct
import zlib
from dataclasses import dataclass

import numpy as np

MAX_CELLS = 48  # cells shown along an axis at most
TARGET_PIXELS = 192  # the longer side of an image, about
MARK = (0, 90, 255)  # the outline of the worst cell
NAN_GREY = (160, 160, 160)
HOT = np.array([165.0, 0.0, 38.0])  # the colour of the slice's greatest difference


def png_bytes(pixels: np.ndarray) -> bytes:
    """An 8-bit RGB PNG of an (height, width, 3) uint8 array."""
    pixels = np.ascontiguousarray(pixels, dtype=np.uint8)
    height, width, channels = pixels.shape
    if channels != 3:
        raise ValueError("png_bytes takes RGB pixels (height, width, 3)")

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = np.concatenate([np.zeros((height, 1), np.uint8), pixels.reshape(height, -1)], axis=1)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows.tobytes(), 9))
        + chunk(b"IEND", b"")
    )


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def worst_index(difference: np.ndarray) -> tuple[int, ...]:
    """Where |difference| is greatest (a NaN counts as greater than any number)."""
    magnitude = np.abs(difference).astype(np.float64)
    magnitude = np.where(np.isnan(magnitude), np.inf, magnitude)
    return tuple(int(i) for i in np.unravel_index(int(np.argmax(magnitude)), magnitude.shape))


@dataclass
class Slice:
    """The 2-D map shown, where the worst element is in it, and what it is (for the caption)."""

    cells: np.ndarray  # 2-D |difference|
    at: tuple[int, int]
    label: str
    offset: tuple[int, int] = (0, 0)  # the crop's first row and column in the full map
    full: tuple[int, ...] = ()  # the full map's shape


def worst_slice(difference: np.ndarray, index: tuple[int, ...]) -> Slice:
    """The map of |difference| holding `index` (see the module's docstring)."""
    magnitude = np.abs(difference).astype(np.float64)
    if magnitude.ndim == 0:
        return Slice(magnitude.reshape(1, 1), (0, 0), "the single value")
    if magnitude.ndim == 1:
        return Slice(magnitude[np.newaxis, :], (0, index[0]), "the whole array")
    if magnitude.ndim == 2:
        return Slice(magnitude, (index[0], index[1]), "the whole array")
    if magnitude.ndim == 3:
        n, c, i = index
        return Slice(magnitude[n, c][np.newaxis, :], (0, i), f"[{n}, {c}, :]")
    lead = index[:-2]
    label = "[" + ", ".join(map(str, lead)) + ", :, :]"
    return Slice(magnitude[lead], (index[-2], index[-1]), label)


def cropped(view: Slice, limit: int = MAX_CELLS) -> Slice:
    """At most `limit` cells along each axis, the worst one kept inside (centred where it can)."""
    starts = []
    for axis, size in enumerate(view.cells.shape):
        start = 0
        if size > limit:
            start = min(max(view.at[axis] - limit // 2, 0), size - limit)
        starts.append(start)
    rows = slice(starts[0], starts[0] + limit)
    columns = slice(starts[1], starts[1] + limit)
    at = (view.at[0] - starts[0], view.at[1] - starts[1])
    offset = (starts[0], starts[1])
    return Slice(view.cells[rows, columns], at, view.label, offset, view.cells.shape)


def cell_size(shape: tuple[int, ...]) -> int:
    return max(3, min(24, TARGET_PIXELS // max(shape)))


def colours(values: np.ndarray) -> np.ndarray:
    """(h, w, 3) uint8 colours of a map of |difference|."""
    finite = values[np.isfinite(values)]
    top = float(finite.max()) if finite.size else 0.0
    scale = values / top if top > 0 else np.zeros_like(values)
    scale = np.clip(np.nan_to_num(scale, nan=0.0, posinf=1.0), 0.0, 1.0)[..., np.newaxis]
    rgb = 255.0 + (HOT - 255.0) * scale
    rgb[np.isnan(values)] = NAN_GREY
    rgb[np.isinf(values)] = (0, 0, 0)
    return np.rint(rgb).astype(np.uint8)


def render(view: Slice) -> tuple[np.ndarray, int]:
    """The pixels of a (cropped) map, each cell `cell` pixels square, the worst cell outlined;
    and the cell size."""
    cell = cell_size(view.cells.shape)
    pixels = np.repeat(np.repeat(colours(view.cells), cell, axis=0), cell, axis=1)
    top, left = view.at[0] * cell, view.at[1] * cell
    box = pixels[top : top + cell, left : left + cell]
    box[0, :] = box[-1, :] = box[:, 0] = box[:, -1] = MARK
    return pixels, cell


def heatmap(difference: np.ndarray, index: tuple[int, ...] | None = None):
    """(PNG bytes, the Slice shown, cell size) for a |difference| array; the worst element
    is `index`, or where |difference| is greatest."""
    index = worst_index(difference) if index is None else index
    view = cropped(worst_slice(difference, index))
    pixels, cell = render(view)
    return png_bytes(pixels), view, cell
