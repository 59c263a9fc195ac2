"""The ``Runner`` base: every backend gets checked inputs and options, and implements only what
differs: ``_run`` and ``_from_artifact`` (which file of an artifact it opens, and how).

Checks (cf. Polygraphy's runners): input names, dtype, rank, fixed dimensions, a batch inside the
artifact's range and the same batch across inputs. Each failure is one IJepaDeployError naming
the input, what it got and what the artifact expects. :class:`RunnerOptions` is how a runner runs
(threads, providers, ...), one typed object from ``load()``'s keywords down to the constructor.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from ijepa_deploy.errors import ArtifactError, InputError
from ijepa_deploy.manifest import Manifest, verify_files
from ijepa_deploy.manifest_schema import resolve_inside
from ijepa_deploy.records import GraphRecord
from ijepa_deploy.spec import ExportSpec, TensorSpec

# Accepted by every backend: ``backend="auto"`` callers (ijepa-embed) pass them without knowing which
# backend will run; a backend that has no use for one ignores it (TensorRT: threads; CPU: host code).
COMMON_OPTIONS = frozenset({"threads", "allow_engine_host_code"})


@dataclass(frozen=True)
class RunnerOptions:
    """How a runner runs, as opposed to what it runs (the graph variant or engine). ``None``: the
    backend's default. Each backend reads only its own fields; setting another backend's is refused."""

    threads: int | None = None  # CPU threads (ONNX Runtime: its intra-op threads unless those are given)
    allow_engine_host_code: bool = False  # TensorRT: run version-compatible engines (they embed host code)
    # ONNX Runtime
    providers: list | None = None  # execution providers (default: the best this onnxruntime build has)
    cache_dir: Path | None = None  # the TensorRT execution provider's engine and timing caches
    intra_op_threads: int | None = None
    opt_level: str | None = None  # graph optimization level, one of onnxruntime_runner.OPT_LEVELS
    mem_arena: bool | None = None
    config_entries: Mapping[str, str] | None = None  # session config entries
    profile_prefix: str | None = None  # enables ONNX Runtime's profiler, files named so
    # OpenVINO
    performance_hint: str | None = None  # LATENCY (default) or THROUGHPUT
    # TensorRT
    max_concurrency: int | None = None  # execution contexts for concurrent run() calls
    device: int | None = None  # CUDA device

    @classmethod
    def from_keywords(cls, base: RunnerOptions | None = None, /, **keywords) -> RunnerOptions:
        """``base`` (default: all defaults) with ``keywords`` set: the public ``load(**options)``
        boundary, where an unknown name is the caller's mistake, not a TypeError deep inside."""
        names = [f.name for f in fields(cls)]
        unknown = sorted(set(keywords) - set(names))
        if unknown:
            raise InputError(f"option {', '.join(unknown)}", "is not a runner option", f"one of {names}")
        return cls(**{**({f: getattr(base, f) for f in names} if base else {}), **keywords})

    def given(self) -> list[str]:
        """The options set to something other than their default."""
        return [f.name for f in fields(self) if getattr(self, f.name) != f.default]

    def refuse_foreign(self, backend: str, used: frozenset[str]) -> None:
        """Refuse options ``backend`` does not read: silently dropping them would run something else
        than the caller asked for."""
        foreign = [name for name in self.given() if name not in used | COMMON_OPTIONS]
        if foreign:
            raise InputError(
                f"option {', '.join(foreign)}",
                f"is not an option of the {backend} backend",
                f"{backend}'s options: {sorted(used | COMMON_OPTIONS)}",
            )


def _check_array(tspec: TensorSpec, value) -> None:
    """``value`` must be a numpy array of the spec's dtype, rank and fixed axes."""
    if not isinstance(value, np.ndarray):
        raise InputError(f"input {tspec.name}", f"is a {type(value).__name__}", "a numpy array")
    if value.dtype != np.dtype(tspec.dtype):
        raise InputError(
            f"input {tspec.name}",
            f"dtype is {value.dtype}",
            f"{tspec.dtype} (use the runtime's Preprocessor for images)",
        )
    if value.ndim != len(tspec.shape):
        raise InputError(
            f"input {tspec.name}",
            f"shape is {list(value.shape)}",
            f"rank {len(tspec.shape)}: {list(tspec.shape)}",
        )
    for axis, (got, want) in enumerate(zip(value.shape, tspec.shape)):
        if isinstance(want, int) and got != want:
            raise InputError(
                f"input {tspec.name}",
                f"shape is {list(value.shape)} (axis {axis} is {got})",
                f"{list(tspec.shape)}",
            )


def _check_finite(tspec: TensorSpec, value: np.ndarray) -> None:
    """Floating-point inputs must hold no NaN or infinity; the error names the bad batch items."""
    if value.dtype.kind == "f":
        finite = np.isfinite(value.reshape(value.shape[0], -1)).all(axis=1)
        if not finite.all():
            bad = np.flatnonzero(~finite)
            raise InputError(
                f"input {tspec.name}",
                f"batch item(s) {bad[:5].tolist()} contain NaN or infinity",
                "finite values (the runtime's Preprocessor output)",
            )


class Runner:
    """Base class. Subclasses set ``backend`` and implement ``_run(feed) -> {name: array}``."""

    backend = "base"
    name = "base"  # the backend name open_runner()'s table knows this runner by
    options_used: frozenset[str] = frozenset()  # the RunnerOptions fields this backend reads
    choice = ""  # how load()/open_runner picked this backend (set by open_runner)

    def __init__(self, spec: ExportSpec, min_batch: int = 1, max_batch: int = 64):
        self.spec = spec
        self.min_batch = int(min_batch)
        self.max_batch = int(max_batch)

    # -- the shared part -------------------------------------------------------------------------
    def check(self, feed) -> dict[str, np.ndarray]:
        feed = self._named_inputs(feed)
        checked, batch = {}, None
        for tspec in self.spec.inputs:
            value = feed[tspec.name]
            _check_array(tspec, value)
            n = value.shape[0]
            self._check_batch(tspec, n, batch)
            batch = n
            _check_finite(tspec, value)
            checked[tspec.name] = np.ascontiguousarray(value)
        return checked

    def _named_inputs(self, feed) -> Mapping:
        """``feed`` as a mapping holding exactly the spec's inputs (a lone array names the only input)."""
        if isinstance(feed, np.ndarray) and len(self.spec.inputs) == 1:
            feed = {self.spec.inputs[0].name: feed}
        if not isinstance(feed, Mapping):
            raise InputError(
                f"{self.backend} runner",
                f"inputs are a {type(feed).__name__}",
                f"a dict of numpy arrays named {self.spec.input_names}",
            )
        missing = [n for n in self.spec.input_names if n not in feed]
        extra = [n for n in feed if n not in self.spec.input_names]
        if missing or extra:
            raise InputError(
                f"{self.backend} runner",
                f"input names {sorted(feed)} (missing {missing}, unexpected {extra})",
                f"exactly {self.spec.input_names}",
            )
        return feed

    def _check_batch(self, tspec: TensorSpec, n: int, batch: int | None) -> None:
        """Batch size ``n`` must be in the artifact's range and equal the other inputs' ``batch``."""
        if not self.min_batch <= n <= self.max_batch:
            raise InputError(
                f"input {tspec.name}",
                f"batch size {n} is outside the artifact's range",
                f"{self.min_batch} <= batch <= {self.max_batch} "
                "(split the batch, or re-export/rebuild with a larger --max-batch)",
            )
        if batch is not None and n != batch:
            raise InputError(
                f"input {tspec.name}",
                f"batch {n} differs from other inputs' {batch}",
                "one batch size across inputs",
            )

    def run(self, feed) -> dict[str, np.ndarray]:
        return self._run(self.check(feed))

    @classmethod
    def from_artifact(
        cls,
        directory: Path,
        manifest: Manifest,
        variant: str,
        options: RunnerOptions | None = None,
        *,
        precision: str | None = None,
        verify: bool = True,
        allow_unverified: bool = False,
    ) -> Runner:
        """The runner for ``variant`` of an artifact: a graph variant (fp32, fp16, int8, int8-cpu) or,
        for TensorRT, an engine key. ``precision`` is what the caller asked for (default: the
        variant); it names refusals, and "bf16" is OpenVINO's inference mode of the fp32 graph.
        ``verify`` checks the files' checksums. The parity gates are the caller's
        (``model.check_verified``); ``allow_unverified`` only waives backend-specific refusals."""
        options = options if options is not None else RunnerOptions()
        options.refuse_foreign(cls.name, cls.options_used)
        return cls._from_artifact(
            Path(directory),
            manifest,
            variant,
            options,
            precision=precision or variant,
            verify=verify,
            allow_unverified=allow_unverified,
        )

    @classmethod
    def variant_for(cls, manifest: Manifest, precision: str, options: RunnerOptions) -> str:
        """The graph variant (TensorRT: the engine) this backend runs for ``precision``."""
        return precision

    @classmethod
    def graph_files(cls, record: GraphRecord) -> list[str]:
        """The files of a graph this backend opens, the one to open first."""
        return record.files

    @classmethod
    def artifact_graph(cls, directory: Path, manifest: Manifest, variant: str, verify: bool) -> Path:
        """The path of ``variant``'s graph file, its files' checksums verified when ``verify``."""
        if variant not in manifest.graphs:
            raise ArtifactError(
                str(directory),
                f"artifact has no {variant} graph",
                f"one of {sorted(manifest.graphs)} (export with --{variant})",
            )
        files = cls.graph_files(manifest.graphs[variant])
        if verify:
            verify_files(directory, manifest, files)
        return resolve_inside(directory, files[0])

    # -- the backend's part ----------------------------------------------------------------------
    @classmethod
    def _from_artifact(
        cls,
        directory: Path,
        manifest: Manifest,
        variant: str,
        options: RunnerOptions,
        *,
        precision: str,
        verify: bool,
        allow_unverified: bool,
    ) -> Runner:
        raise NotImplementedError

    def _run(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def close(self) -> None:
        """Release the session/engine. Backends override when they hold resources."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
