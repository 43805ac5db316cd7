"""Rounding-only implementations (tests/data/rounding_only/_impl.py), one module per style."""
