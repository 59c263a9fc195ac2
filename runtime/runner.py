"""The ``Runner`` base: every backend gets checked inputs and implements only ``_run``.

Checks (cf. Polygraphy's runners): input names, dtype, rank, fixed dimensions, a batch inside the
artifact's range and the same batch across inputs. Each failure is one IJepaDeployError naming
the input, what it got and what the artifact expects.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ijepa_deploy.errors import InputError
from ijepa_deploy.spec import ExportSpec


class Runner:
    """Base class. Subclasses set ``backend`` and implement ``_run(feed) -> {name: array}``."""

    backend = "base"
    choice = ""  # how load()/open_runner picked this backend (set by open_runner)

    def __init__(self, spec: ExportSpec, min_batch: int = 1, max_batch: int = 64):
        self.spec = spec
        self.min_batch = int(min_batch)
        self.max_batch = int(max_batch)

    # -- the shared part -------------------------------------------------------------------------
    def check(self, feed) -> dict[str, np.ndarray]:
        if isinstance(feed, np.ndarray) and len(self.spec.inputs) == 1:
            feed = {self.spec.inputs[0].name: feed}
        if not isinstance(feed, Mapping):
            raise InputError(f"{self.backend} runner", f"inputs are a {type(feed).__name__}",
                                   f"a dict of numpy arrays named {self.spec.input_names}")
        missing = [n for n in self.spec.input_names if n not in feed]
        extra = [n for n in feed if n not in self.spec.input_names]
        if missing or extra:
            raise InputError(f"{self.backend} runner",
                                   f"input names {sorted(feed)} (missing {missing}, unexpected {extra})",
                                   f"exactly {self.spec.input_names}")
        checked, batch = {}, None
        for tspec in self.spec.inputs:
            value = feed[tspec.name]
            if not isinstance(value, np.ndarray):
                raise InputError(f"input {tspec.name}", f"is a {type(value).__name__}", "a numpy array")
            if value.dtype != np.dtype(tspec.dtype):
                raise InputError(f"input {tspec.name}", f"dtype is {value.dtype}",
                                       f"{tspec.dtype} (use the runtime's Preprocessor for images)")
            if value.ndim != len(tspec.shape):
                raise InputError(f"input {tspec.name}", f"shape is {list(value.shape)}",
                                       f"rank {len(tspec.shape)}: {list(tspec.shape)}")
            for axis, (got, want) in enumerate(zip(value.shape, tspec.shape)):
                if isinstance(want, int) and got != want:
                    raise InputError(f"input {tspec.name}",
                                           f"shape is {list(value.shape)} (axis {axis} is {got})",
                                           f"{list(tspec.shape)}")
            n = value.shape[0]
            if not self.min_batch <= n <= self.max_batch:
                raise InputError(f"input {tspec.name}", f"batch size {n} is outside the artifact's range",
                                       f"{self.min_batch} <= batch <= {self.max_batch} "
                                       "(split the batch, or re-export/rebuild with a larger --max-batch)")
            if batch is not None and n != batch:
                raise InputError(f"input {tspec.name}", f"batch {n} differs from other inputs' {batch}",
                                       "one batch size across inputs")
            batch = n
            if value.dtype.kind == "f":
                finite = np.isfinite(value.reshape(n, -1)).all(axis=1)
                if not finite.all():
                    bad = np.flatnonzero(~finite)
                    raise InputError(f"input {tspec.name}", f"batch item(s) {bad[:5].tolist()} contain NaN or "
                                           "infinity", "finite values (the runtime's Preprocessor output)")
            checked[tspec.name] = np.ascontiguousarray(value)
        return checked

    def run(self, feed) -> dict[str, np.ndarray]:
        return self._run(self.check(feed))

    # -- the backend's part ----------------------------------------------------------------------
    def _run(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def close(self) -> None:
        """Release the session/engine. Backends override when they hold resources."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
