"""Rounding-only operations of every rank in the style `reversed_order` (see _impl)."""

from tests.data.rounding_only._impl import operations

globals().update(operations("reversed_order"))
