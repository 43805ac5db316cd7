"""Load the conv-harness pytest plugin (options --cases/--impl, the case matrix, the header)."""

pytest_plugins = ["harness.pytest_plugin"]
