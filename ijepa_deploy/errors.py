"""The user-facing error types.

Every problem a user can fix (a bad argument, an unreadable image, an artifact that fails its
checksum, a batch the engine was not built for) is raised as :class:`IJepaDeployError` or one of
its subclasses below. The CLI prints any of them as ``subject | problem. Note: expected ...`` and
exits 1 without a traceback; library callers catch the base type, or a subclass where they treat
that kind of failure differently (a client's bad request, a backend this host lacks). A problem
that fits no subclass (a runner used after ``close()``, an internal inconsistency) stays the base
type. :func:`first_line` is how a message quotes the exception it replaces.
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

    def restated(self, subject: str, problem: str | None = None) -> IJepaDeployError:
        """The same error (same type, same ``expected``) about another subject, e.g. naming which
        image of a batch failed, or with a reworded problem."""
        return type(self)(subject, self.problem if problem is None else problem, self.expected)


class InputError(IJepaDeployError):
    """The caller's input is wrong: an argument or CLI option, an image, a pixel array or batch, a
    path or a checkpoint given to export. Fixed by changing what was passed in."""


class ArtifactError(IJepaDeployError):
    """An artifact (or a file ijepa-deploy wrote: reference outputs, a benchmark report) is missing,
    corrupt or does not match what it should be: manifest, schema, checksum, a graph or engine it
    lacks or whose tensors differ from the manifest. Fixed by re-exporting or re-copying it."""


class ParityError(IJepaDeployError):
    """Numbers disagree: a graph or engine failed its parity check (or is marked failed / never
    checked in the manifest), or a result missed its accuracy target. Not something to retry."""


class BackendUnavailable(IJepaDeployError):
    """This host lacks what a backend needs: an optional library (TensorRT, OpenVINO, tritonclient,
    pyarrow, Ray), a GPU or provider, or a CPU feature (VNNI / AMX for int8, native bf16). The same
    call works on a host that has it; ``backend="auto"`` and the benchmarks skip such a backend."""


class BackendError(IJepaDeployError):
    """A backend library or worker process failed at its job on input that passed our checks: ONNX
    Runtime / OpenVINO / TensorRT could not load, build or run a graph, a CUDA call failed, a
    server or worker process died or did not start."""


# By name, for code that rebuilds an error from its text (a Ray task's traceback keeps only that).
ERROR_TYPES: dict[str, type[IJepaDeployError]] = {
    cls.__name__: cls
    for cls in (IJepaDeployError, InputError, ArtifactError, ParityError, BackendUnavailable, BackendError)
}


def first_line(exc: BaseException, limit: int = 200) -> str:
    """The first line of ``exc``'s message, at most ``limit`` characters (its type name when it has
    none), for quoting inside a one-line user error: library messages run to pages of context."""
    text = str(exc).strip()
    return text.splitlines()[0][:limit] if text else type(exc).__name__
