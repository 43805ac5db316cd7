"""The harness's own error types.

Every problem a user can cause (a bad case file, an unknown implementation, a bad option) is raised
as a `HarnessError` whose `problems` are complete one-line messages: what is wrong, where (file,
case id, field) and, where it helps, what to do next. The CLI prints them and exits 2; anything
else that escapes is a bug in the harness and keeps its traceback.
"""

from __future__ import annotations


class HarnessError(Exception):
    """A user-facing error carrying one or more one-line problem descriptions."""

    def __init__(self, problems: str | list[str]):
        if isinstance(problems, str):
            problems = [problems]
        self.problems = [" ".join(str(p).split()) for p in problems]
        super().__init__("\n".join(self.problems))


class CaseFileError(HarnessError):
    """A case file cannot be read, parsed or validated."""


class ImplementationError(HarnessError):
    """An implementation cannot be found, imported or called with the conv2d signature."""
