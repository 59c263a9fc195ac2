"""The TensorRT logger our engine builds and loads use: TensorRT reports failures (a plan it cannot
deserialize, a graph it cannot build) only through its logger, so errors are kept to put into the
IJepaDeployError we raise."""

from __future__ import annotations

import sys


def make_logger(trt, stream=None):
    """A TensorRT logger that keeps error messages (to put into IJepaDeployError) and prints
    warnings and errors to stderr, as ``trt.Logger(WARNING)`` would."""
    severity = trt.ILogger.Severity
    errors_at = (severity.INTERNAL_ERROR, severity.ERROR)

    class _CollectingLogger(trt.ILogger):  # type: ignore[name-defined]  # a class of the module passed in
        def __init__(self):
            trt.ILogger.__init__(self)
            self.errors: list[str] = []
            self.warnings: list[str] = []

        def log(self, level, msg):
            if level in errors_at:
                self.errors.append(str(msg))
            elif level == severity.WARNING:
                self.warnings.append(str(msg))
            else:
                return
            print(
                f"[tensorrt] {'error' if level in errors_at else 'warning'}: {msg}",
                file=stream or sys.stderr,
                flush=True,
            )

    return _CollectingLogger()
