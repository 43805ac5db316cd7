"""Rounding-only operations of every rank in the style `f64_round` (see _impl)."""

from tests.data.rounding_only._impl import operations

globals().update(operations("f64_round"))
