"""The one user-facing error type.

Every problem a user can fix (a bad argument, an unreadable image, an artifact that fails its
checksum, a batch the engine was not built for) is raised as :class:`IJepaDeployError`. The CLI
prints it as ``subject | problem. Note: expected ...`` and exits 1 without a traceback; library
callers catch one type. :func:`first_line` is how a message quotes the exception it replaces.
This module imports nothing: the torch-free runtime and the Triton preprocess model (which gets a
copy of it) use it.
"""

from __future__ import annotations


class IJepaDeployError(Exception):
    """A problem the user can fix: names the subject, the problem and what was expected."""

    def __init__(self, subject: str, problem: str, expected: str | None = None):
        self.subject = str(subject)
        self.problem = str(problem)
        self.expected = expected
        super().__init__(self.format())

    def __reduce__(self):
        # Pickled by its fields, so it crosses process boundaries (Ray actors, worker processes)
        # as itself; the default (the formatted message as the only argument) cannot rebuild it.
        return (type(self), (self.subject, self.problem, self.expected))

    def format(self) -> str:
        text = f"{self.subject} | {self.problem}"
        if self.expected:
            text += f". Note: expected {self.expected}"
        return text


def first_line(exc: BaseException, limit: int = 200) -> str:
    """The first line of ``exc``'s message, at most ``limit`` characters (its type name when it has
    none), for quoting inside a one-line user error: library messages run to pages of context."""
    text = str(exc).strip()
    return text.splitlines()[0][:limit] if text else type(exc).__name__
