"""Rounding-only operations of every rank in the style `dtype_per_tap` (see _impl)."""

from tests.data.rounding_only._impl import operations

globals().update(operations("dtype_per_tap"))
