"""ONNX graph -> TensorRT engine, with the same code for TensorRT 10.x and 11.x.

Precision comes from the graph, never from builder flags: TensorRT 11 removed BuilderFlag.FP16/INT8
and the INT8 calibrators, and always builds strongly typed (types follow the ONNX graph, INT8
through explicit Q/DQ nodes). On 10.x the network is created with the STRONGLY_TYPED flag so both
versions build the same thing; 11.x keeps that flag only as an ignored, deprecated value, so it is
not passed there. An fp16 or int8 engine is therefore built from the artifact's ``fp16`` / ``int8``
graph (``ijepa-export --fp16/--int8``).

Each engine gets one optimization profile (min/opt/max batch) on the artifact's input, a workspace
limit, the builder optimization level and a timing cache file reused across builds, optionally a
hardware-compatibility level and the version-compatible flag; it is written as
``model_<variant>.engine`` and recorded in the manifest with the TensorRT version and GPU it needs,
then run against eager fp32 like the graphs (``engine_parity``): an engine that misses the
thresholds is recorded ``status: failed`` and the runtime refuses it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from ijepa_deploy.errors import ArtifactError, BackendError, BackendUnavailable, InputError
from ijepa_deploy.exporters.engine_parity import ENGINE_UNVERIFIED, record_engine_parity, reference_parity
from ijepa_deploy.manifest import STATUS_FAILED, Manifest, verify_files, write_atomic
from ijepa_deploy.manifest_schema import resolve_inside
from ijepa_deploy.outputs import check_output_dir, check_output_file
from ijepa_deploy.progress import Progress
from ijepa_deploy.records import EngineProfile, EngineRecord
from ijepa_deploy.runtime.acceptance.parity import ReferenceParity, export_thresholds, profile_batch_sizes
from ijepa_deploy.runtime.tensorrt_host import INSTALL_HINT, gpu_info, import_tensorrt, tensorrt_major, tensorrt_status
from ijepa_deploy.runtime.tensorrt_logging import make_logger
from ijepa_deploy.runtime.tensorrt_runner import TensorRTRunner
from ijepa_deploy.spec import ExportSpec

if TYPE_CHECKING:
    import tensorrt as trt

__all__ = ["EngineOptions", "EngineFromOnnx", "build_engines", "tensorrt_status", "engine_file_name"]

HARDWARE_COMPATIBILITY = ("ampere_plus", "same_compute_capability")
OPT_LEVELS = range(0, 6)  # IBuilderConfig.builder_optimization_level: 0 (fastest build) .. 5
DEFAULT_OPT_BATCH = 8
TIMING_CACHE_NAME = "timing.cache"


def engine_file_name(variant: str) -> str:
    return f"model_{variant}.engine"


@dataclass(frozen=True)
class EngineOptions:
    """What ``ijepa-build`` builds. ``max_batch`` None means the artifact's max batch; ``opt_batch``
    None means 8 (capped at max_batch); ``timing_cache`` None means ``<artifact>/timing.cache``."""

    variants: tuple[str, ...] = ("fp32",)
    min_batch: int = 1
    opt_batch: int | None = None
    max_batch: int | None = None
    workspace_gib: float = 4.0
    opt_level: int = 3
    timing_cache: Path | None = None
    hardware_compatibility: str | None = None
    version_compatible: bool = False

    def resolved(self, manifest: Manifest, directory: Path | None = None) -> EngineOptions:
        """Fill the defaults from ``manifest`` and check every field; raises IJepaDeployError."""
        variants = self._resolved_variants(manifest)
        min_batch, opt_batch, max_batch = self._resolved_batches(manifest)
        self._check_builder_settings()
        level = self._resolved_hardware_compatibility()
        cache = self.timing_cache
        if cache is None and directory is not None:
            cache = Path(directory) / TIMING_CACHE_NAME
        return replace(
            self,
            variants=variants,
            min_batch=min_batch,
            opt_batch=opt_batch,
            max_batch=max_batch,
            opt_level=int(self.opt_level),
            hardware_compatibility=level,
            timing_cache=Path(cache) if cache is not None else None,
        )

    def _resolved_variants(self, manifest: Manifest) -> tuple[str, ...]:
        """The asked variants, deduplicated in order; each must be a graph of the artifact."""
        variants = tuple(dict.fromkeys(self.variants or ()))
        if not variants:
            raise InputError("--variant", "no variant given", f"one or more of {sorted(manifest.graphs)}")
        for variant in variants:
            if variant not in manifest.graphs:
                raise InputError(
                    "--variant",
                    f"artifact has no {variant} graph",
                    f"one of {sorted(manifest.graphs)} (add it with ijepa-export --{variant})",
                )
        return variants

    def _resolved_batches(self, manifest: Manifest) -> tuple[int, int, int]:
        """min, opt and max batch with the defaults filled in, ordered and inside the artifact's range."""
        art_min, art_max = manifest.batch.min, manifest.batch.max
        max_batch = art_max if self.max_batch is None else int(self.max_batch)
        opt_batch = min(DEFAULT_OPT_BATCH, max_batch) if self.opt_batch is None else int(self.opt_batch)
        min_batch = int(self.min_batch)
        if min_batch < art_min:
            raise InputError(
                "--min-batch",
                f"{min_batch} is below the artifact's minimum batch {art_min}",
                f"{art_min} <= min <= opt <= max <= {art_max}",
            )
        if not min_batch <= opt_batch <= max_batch:
            raise InputError(
                "--min-batch/--opt-batch/--max-batch",
                f"min {min_batch}, opt {opt_batch}, max {max_batch} are not in order",
                f"min <= opt <= max (the artifact accepts {art_min}..{art_max})",
            )
        if max_batch > art_max:
            raise InputError(
                "--max-batch",
                f"{max_batch} exceeds the artifact's max batch {art_max}",
                f"at most {art_max} (re-export with a larger ijepa-export --max-batch)",
            )
        return min_batch, opt_batch, max_batch

    def _check_builder_settings(self) -> None:
        """Workspace and optimization level, which have no defaults to fill."""
        if not self.workspace_gib > 0:
            raise InputError("--workspace-gib", f"{self.workspace_gib}", "a positive size in GiB, e.g. 4")
        if int(self.opt_level) not in OPT_LEVELS:
            raise InputError(
                "--opt-level",
                f"{self.opt_level}",
                f"a builder optimization level from {OPT_LEVELS.start} to {OPT_LEVELS.stop - 1}",
            )

    def _resolved_hardware_compatibility(self) -> str | None:
        """The hardware-compatibility level, None for none."""
        level = self.hardware_compatibility
        if level in ("", "none"):
            level = None
        if level is not None and level not in HARDWARE_COMPATIBILITY:
            raise InputError(
                "--hardware-compatibility",
                f"unknown level {level!r}",
                f"one of none, {', '.join(HARDWARE_COMPATIBILITY)}",
            )
        return level

    def profile(self) -> EngineProfile:
        """Only meaningful on resolved options (every batch filled in)."""
        assert self.opt_batch is not None and self.max_batch is not None, "call resolved() first"
        return EngineProfile(min=self.min_batch, opt=self.opt_batch, max=self.max_batch)


def _describe_parser_errors(parser: trt.OnnxParser) -> str:
    messages = []
    for i in range(parser.num_errors):
        error = parser.get_error(i)
        node = error.node_name() or (f"node {error.node()}" if error.node() >= 0 else "")
        messages.append(f"{error.desc()}" + (f" (at {node}, {error.node_operator()})" if node else ""))
    return "; ".join(messages) or "no detail from the parser"


def _read_timing_cache(path: Path | None) -> bytes:
    if path is None or not Path(path).is_file():
        return b""
    return Path(path).read_bytes()


@dataclass
class EngineFromOnnx:
    """Loader: parse ``onnx_path`` (external data beside it) and return the serialized engine (bytes).

    ``options`` must be resolved (:meth:`EngineOptions.resolved`). The timing cache file, if set, is
    read before and written back after the build.
    """

    onnx_path: Path
    spec: ExportSpec
    options: EngineOptions
    progress: Progress | None = None

    def __call__(self) -> bytes:
        trt = import_tensorrt()
        opts = self.options
        logger = make_logger(trt)
        builder = trt.Builder(logger)
        network = self._parse_network(trt, builder, logger)
        config = builder.create_builder_config()
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(opts.workspace_gib * (1 << 30)))
        config.builder_optimization_level = opts.opt_level
        self._add_batch_profile(builder, config, logger)
        self._load_timing_cache(config)
        self._set_compatibility(trt, config)
        plan = builder.build_serialized_network(network, config)
        if plan is None:
            detail = "; ".join(logger.errors[-5:]) or "no detail from TensorRT (run with a verbose logger)"
            raise BackendError(
                str(self.onnx_path),
                f"TensorRT could not build the engine: {detail}",
                "a graph TensorRT supports and enough GPU memory (try a smaller --max-batch or --workspace-gib)",
            )
        if opts.timing_cache is not None:
            write_atomic(opts.timing_cache, config.get_timing_cache().serialize())
        return bytes(memoryview(plan))

    def _parse_network(self, trt, builder: trt.Builder, logger) -> trt.INetworkDefinition:
        """The ONNX graph as a TensorRT network, strongly typed, with exactly the spec's inputs."""
        where = str(self.onnx_path)
        flags = 0
        if (tensorrt_major(trt.__version__) or 0) < 11:
            # 10.x: strongly typed = precision from the graph (11.x: always, the flag is deprecated).
            flags |= 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
        network = builder.create_network(flags)
        parser = trt.OnnxParser(network, logger)
        if not parser.parse_from_file(str(self.onnx_path)):
            raise BackendError(
                where,
                f"TensorRT's ONNX parser failed: {_describe_parser_errors(parser)}",
                "a graph written by ijepa-export, with its .data file beside it",
            )
        names = [network.get_input(i).name for i in range(network.num_inputs)]
        if sorted(names) != sorted(self.spec.input_names):
            raise ArtifactError(where, f"parsed network inputs are {names}", f"exactly {self.spec.input_names}")
        return network

    def _add_batch_profile(self, builder: trt.Builder, config: trt.IBuilderConfig, logger) -> None:
        """The one optimization profile: min/opt/max batch on every input's dynamic axis."""
        opts = self.options
        profile = builder.create_optimization_profile()
        for tspec in self.spec.inputs:
            shapes = [
                tuple(batch if isinstance(d, str) else int(d) for d in tspec.shape)
                for batch in (opts.min_batch, opts.opt_batch, opts.max_batch)
            ]
            profile.set_shape(tspec.name, *shapes)
        if config.add_optimization_profile(profile) < 0:
            raise BackendError(
                str(self.onnx_path),
                "TensorRT rejected the optimization profile "
                f"{opts.profile().to_dict()}: {'; '.join(logger.errors[-3:])}",
                "a batch range the graph's dynamic axis allows",
            )

    def _load_timing_cache(self, config: trt.IBuilderConfig) -> None:
        """Start from the saved timing cache so rebuilds skip the kernels already timed."""
        opts = self.options
        cache = config.create_timing_cache(_read_timing_cache(opts.timing_cache))
        if not config.set_timing_cache(cache, False):
            # A cache from another GPU / TensorRT version: start a fresh one rather than fail.
            if self.progress:
                self.progress.say(
                    f"[tensorrt] timing cache {opts.timing_cache} does not match this GPU/TensorRT; starting a new one"
                )
            cache = config.create_timing_cache(b"")
            config.set_timing_cache(cache, False)

    def _set_compatibility(self, trt, config: trt.IBuilderConfig) -> None:
        """Hardware-compatibility level and version-compatible flag, when asked for."""
        opts = self.options
        if opts.hardware_compatibility == "ampere_plus":
            config.hardware_compatibility_level = trt.HardwareCompatibilityLevel.AMPERE_PLUS
        elif opts.hardware_compatibility == "same_compute_capability":
            level = getattr(trt.HardwareCompatibilityLevel, "SAME_COMPUTE_CAPABILITY", None)  # TensorRT >= 10.9
            if level is None:
                raise BackendUnavailable(
                    "--hardware-compatibility",
                    f"same_compute_capability needs TensorRT >= 10.9, this host has {trt.__version__}",
                    "ampere_plus, or a newer TensorRT",
                )
            config.hardware_compatibility_level = level
        if opts.version_compatible:
            config.set_flag(trt.BuilderFlag.VERSION_COMPATIBLE)


def _check_before_build(directory: Path, manifest: Manifest, opts: EngineOptions) -> None:
    """What can fail in seconds, before any engine is built: the outputs are writable, the source
    graphs match their checksums, TensorRT and a GPU are there."""
    check_output_dir(directory, str(directory))  # engines and the manifest are written here
    if opts.timing_cache is not None:
        check_output_file(opts.timing_cache, "--timing-cache")
    for variant in opts.variants:
        verify_files(directory, manifest, manifest.graphs[variant].files)
    available, reason = tensorrt_status()
    if not available:
        raise BackendUnavailable("TensorRT engine build", reason, INSTALL_HINT)


def build_engines(
    directory: Path,
    manifest: Manifest,
    options: EngineOptions,
    progress: Progress | None = None,
    parity: ReferenceParity | None = None,
    parity_paths: list[Path] | None = None,
) -> list[EngineRecord]:
    """Build one engine per ``options.variants`` into ``directory``, check each against eager fp32's
    outputs like the graphs (``engine_parity``) and record both in ``manifest`` (written after each
    step). Returns the new ``manifest.engines`` records; a record's ``status`` says whether it passed.

    ``parity`` None: the artifact's saved reference outputs (or eager on ``parity_paths``)."""
    directory = Path(directory)
    progress = progress or Progress()
    opts = options.resolved(manifest, directory)
    _check_before_build(directory, manifest, opts)
    trt = import_tensorrt()
    gpu = gpu_info()
    parity = parity or reference_parity(directory, manifest, parity_paths, progress)
    batch_sizes = profile_batch_sizes(opts.profile())
    records = []
    for variant in opts.variants:
        record = _build_engine(directory, manifest, opts, variant, trt, gpu, progress)
        records.append(record)
        _check_engine_parity(directory, manifest, variant, record, parity, batch_sizes, progress)
    return records


def _build_engine(
    directory: Path, manifest: Manifest, opts: EngineOptions, variant: str, trt, gpu: dict, progress: Progress
) -> EngineRecord:
    """Build ``variant``'s engine, write it and record it in the manifest, unverified until its parity check."""
    graph = manifest.graphs[variant]
    name = engine_file_name(variant)
    detail = (
        f"{variant}: {graph.file} -> {name}, batch {opts.min_batch}/{opts.opt_batch}/{opts.max_batch}, "
        f"TensorRT {trt.__version__} on {gpu['name']}"
    )
    start = time.perf_counter()
    with progress.step(f"tensorrt {variant}", detail):
        plan = EngineFromOnnx(resolve_inside(directory, graph.file), manifest.io, opts, progress)()
        write_atomic(directory / name, plan)
    precision = graph.precision
    record = EngineRecord(
        file=name,
        source_graph=variant,
        source_sha256=manifest.files[graph.file].sha256,
        precision=precision,
        tensorrt_version=str(trt.__version__),
        gpu_name=gpu["name"],
        compute_capability=gpu["compute_capability"],
        profile=opts.profile(),
        hardware_compatibility=opts.hardware_compatibility,
        version_compatible=bool(opts.version_compatible),
        build_seconds=round(time.perf_counter() - start, 2),
        status=ENGINE_UNVERIFIED,  # until _check_engine_parity has passed
    )
    manifest.record_file(directory, name, role="tensorrt-engine")
    manifest.engines[variant] = record
    manifest.write(directory)
    return record


def _check_engine_parity(
    directory: Path,
    manifest: Manifest,
    variant: str,
    record: EngineRecord,
    parity: ReferenceParity,
    batch_sizes: tuple[int, ...],
    progress: Progress,
) -> None:
    """Run the built engine against eager PyTorch's outputs and record the result in the manifest."""
    name, precision = record.file, record.precision
    with progress.step(
        f"parity engine {variant}",
        f"eager PyTorch's saved outputs vs TensorRT {name} at batch sizes {list(batch_sizes)}",
    ):
        try:
            # built by this process a moment ago: its host code (--version-compatible) is ours
            runner = TensorRTRunner(
                directory / name,
                manifest.io,
                record,
                variant=variant,
                artifact=directory,
                allow_engine_host_code=True,
            )
            with runner:
                result = parity(
                    runner,
                    variant,
                    precision,
                    batch_sizes,
                    engine=name,
                    thresholds=export_thresholds(manifest, variant, precision),
                )
        except BaseException:
            record.status = STATUS_FAILED
            manifest.write(directory)
            raise
    record_engine_parity(manifest, variant, result)
    manifest.write(directory)
    if not result.passed:
        progress.say(
            f"[parity engine {variant}] FAILED: {name} does not match eager PyTorch "
            f"(thresholds for {precision}); the engine is marked failed"
        )
