"""Rounding-only operations of every rank in the style `f32_bias_after` (see _impl)."""

from tests.data.rounding_only._impl import operations

globals().update(operations("f32_bias_after"))
