"""Deliberately correct and deliberately wrong user conv2d implementations for demos and tests."""
