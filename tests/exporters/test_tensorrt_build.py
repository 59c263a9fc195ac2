"""TensorRT engine builds: option checks and ``ijepa-build`` errors (any host), engine builds with
parity against eager PyTorch (``gpu``: skipped with the reason where TensorRT or a GPU is missing)."""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from trt_fakes import FakeCudart, FakeEngine, FakeILogger, fake_model, fake_runtime_tensorrt

from ijepa_deploy.errors import (
    ArtifactError,
    BackendError,
    BackendUnavailable,
    IJepaDeployError,
    InputError,
    ParityError,
)
from ijepa_deploy.exporters.tensorrt_build import EngineOptions, build_engines, engine_file_name, tensorrt_status
from ijepa_deploy.manifest import Manifest, read_manifest
from ijepa_deploy.progress import Progress
from ijepa_deploy.records import EngineProfile
from ijepa_deploy.runtime.acceptance.parity import profile_batch_sizes
from manifest_factory import small_manifest, stand_in_reference

KNOWN_REASONS = ("tensorrt not installed", "tensorrt is installed but", "cuda-python not installed",
                 "no CUDA GPU visible", "no usable CUDA GPU")


def fake_manifest(max_batch: int = 8) -> Manifest:
    return small_manifest(max_batch=max_batch)


@pytest.fixture
def fake_artifact(tmp_path) -> Path:
    """A manifest plus a (not really ONNX) graph file with its checksum: enough to reach the
    TensorRT check without exporting anything."""
    directory = tmp_path / "art"
    directory.mkdir()
    small_manifest(directory, status="passed").write(directory)
    return directory


# -- EngineOptions --------------------------------------------------------------------------------
def test_engine_options_defaults_follow_the_artifact(tmp_path):
    opts = EngineOptions().resolved(fake_manifest(max_batch=8), tmp_path)
    assert opts.variants == ("fp32",)
    assert (opts.min_batch, opts.opt_batch, opts.max_batch) == (1, 8, 8)
    assert opts.timing_cache == tmp_path / "timing.cache"
    assert opts.profile() == EngineProfile(min=1, opt=8, max=8)
    small = EngineOptions().resolved(fake_manifest(max_batch=4))
    assert (small.opt_batch, small.max_batch) == (4, 4)  # default opt 8 is capped at max
    custom = EngineOptions(min_batch=2, opt_batch=3, max_batch=6, timing_cache=tmp_path / "x.cache",
                           hardware_compatibility="none").resolved(fake_manifest())
    assert (custom.min_batch, custom.opt_batch, custom.max_batch) == (2, 3, 6)
    assert custom.hardware_compatibility is None and custom.timing_cache == tmp_path / "x.cache"


@pytest.mark.parametrize("kwargs, match", [
    (dict(min_batch=4, opt_batch=2, max_batch=8), "not in order"),
    (dict(min_batch=1, opt_batch=8, max_batch=4), "not in order"),
    (dict(max_batch=16), "exceeds the artifact's max batch 8"),
    (dict(min_batch=0), "below the artifact's minimum batch"),
    (dict(variants=("fp16",)), "artifact has no fp16 graph"),
    (dict(variants=()), "no variant given"),
    (dict(workspace_gib=0), "--workspace-gib"),
    (dict(opt_level=7), "--opt-level"),
    (dict(hardware_compatibility="turing_plus"), "unknown level"),
])
def test_engine_options_are_checked(kwargs, match):
    with pytest.raises(InputError, match=match) as info:
        EngineOptions(**kwargs).resolved(fake_manifest())
    assert "Note: expected" in info.value.format()


def test_missing_variant_says_how_to_export_it():
    with pytest.raises(InputError) as info:
        EngineOptions(variants=("int8",)).resolved(fake_manifest())
    assert "ijepa-export --int8" in str(info.value)


# -- without TensorRT / GPU -------------------------------------------------------------------------
def test_tensorrt_status_is_plain():
    available, reason = tensorrt_status()
    assert isinstance(available, bool) and reason
    if not available:
        assert reason.startswith(KNOWN_REASONS), reason


def test_build_engines_checks_the_graph_before_tensorrt(fake_artifact):
    manifest = read_manifest(fake_artifact)
    (fake_artifact / "model_fp32.onnx").write_bytes(b"tampered")
    with pytest.raises(ArtifactError, match="checksum mismatch"):
        build_engines(fake_artifact, manifest, EngineOptions(), Progress(quiet=True))


def test_build_engines_without_tensorrt_raises_the_reason(fake_artifact):
    available, reason = tensorrt_status()
    if available:
        pytest.skip(f"this host can build engines ({reason})")
    with pytest.raises(BackendUnavailable) as info:
        build_engines(fake_artifact, read_manifest(fake_artifact), EngineOptions(), Progress(quiet=True))
    assert info.value.problem == reason
    assert "ijepa-deploy[tensorrt]" in info.value.format()
    assert not list(fake_artifact.glob("*.engine"))
    assert read_manifest(fake_artifact).engines == {}


def test_ijepa_build_without_tensorrt_exits_1_with_the_reason(fake_artifact):
    available, reason = tensorrt_status()
    if available:
        pytest.skip(f"this host can build engines ({reason})")
    proc = subprocess.run([sys.executable, "-m", "ijepa_deploy.cli.build", str(fake_artifact), "--variant", "fp32"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout == ""
    line = proc.stderr.strip().splitlines()[-1]
    assert line.startswith("error: TensorRT engine build | ") and reason in line and ". Note: expected " in line
    assert "Traceback" not in proc.stderr


def test_ijepa_build_argument_errors(fake_artifact, capsys):
    from ijepa_deploy.cli.build import main, parse_args

    args = parse_args([str(fake_artifact), "--variant", "fp32", "--variant", "fp16", "--min-batch", "2",
                       "--opt-batch", "4", "--max-batch", "6", "--workspace-gib", "2", "--opt-level", "5",
                       "--timing-cache", "/tmp/t.cache", "--hardware-compatibility", "ampere_plus",
                       "--version-compatible"])
    assert args.options == EngineOptions(("fp32", "fp16"), 2, 4, 6, 2.0, 5, Path("/tmp/t.cache"), "ampere_plus", True)
    assert parse_args([str(fake_artifact)]).options == EngineOptions()
    for argv, match in (([str(fake_artifact), "--max-batch", "99"], "exceeds the artifact's max batch"),
                        ([str(fake_artifact), "--variant", "int8"], "ijepa-export --int8"),
                        ([str(fake_artifact), "--opt-level", "x"], "invalid int value"),
                        ([str(fake_artifact.parent / "nope")], "artifact directory does not exist")):
        with pytest.raises(SystemExit) as info:
            main(argv)
        assert info.value.code == 1
        err = capsys.readouterr().err
        assert err.startswith("error: ") and match in err, err


# -- on a GPU ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def gpu_artifact(tensorrt_host, tiny_precision_artifact, tmp_path_factory):
    """A private copy of the tiny artifact with fp16/int8 graphs (engines are written into it)."""
    target = tmp_path_factory.mktemp("trt") / "tiny"
    shutil.copytree(tiny_precision_artifact, target)
    return target


@pytest.fixture(scope="module")
def eager(tensorrt_host):
    """The eager model the tiny artifact was exported from (same preset and seed)."""
    from ijepa_deploy.exporters.models import load_model, parse_model_source

    return load_model(parse_model_source("random:tiny"), "feature-extraction", seed=0)


def _variant_or_skip(directory: Path, variant: str):
    manifest = read_manifest(directory)
    if variant not in manifest.graphs:
        pytest.skip(f"artifact has no {variant} graph yet (ijepa-export --{variant} adds it)")
    return manifest


@pytest.mark.gpu
@pytest.mark.parametrize("variant", ["fp32", "fp16", "int8"])
def test_build_engine_matches_eager(gpu_artifact, eager, variant):
    from ijepa_deploy.exporters.reference import TorchRunner
    from ijepa_deploy.runtime.acceptance.parity import ParityCheck
    from ijepa_deploy.runtime.model import open_runner
    from ijepa_deploy.runtime.photos import photo_batch
    from ijepa_deploy.runtime.preprocess import Preprocessor

    manifest = _variant_or_skip(gpu_artifact, variant)
    opts = EngineOptions(variants=(variant,), min_batch=1, opt_batch=4, max_batch=8, workspace_gib=1.0, opt_level=1)
    (record,) = build_engines(gpu_artifact, manifest, opts, Progress(quiet=True))
    manifest = read_manifest(gpu_artifact)
    assert manifest.engines[variant] == record and record.status == "passed"  # checked by build_engines
    assert record.file == engine_file_name(variant) and record.source_graph == variant
    assert record.source_sha256 == manifest.files[manifest.graphs[variant].file].sha256
    assert record.profile.to_dict() == {"min": 1, "opt": 4, "max": 8} and record.tensorrt_version
    assert record.compute_capability and record.gpu_name and record.build_seconds > 0
    assert manifest.files[record.file].role == "tensorrt-engine"
    assert (gpu_artifact / "timing.cache").stat().st_size > 0

    pixels, names = photo_batch(Preprocessor(manifest.preprocessing), 5)
    reference = TorchRunner(eager, manifest.io, 1, 8)
    with open_runner(gpu_artifact, manifest, "tensorrt", variant) as candidate:
        assert (candidate.min_batch, candidate.max_batch) == (1, 8)
        result = ParityCheck(reference, candidate, manifest.graphs[variant].precision, (1, 2, 5))(
            pixels, names, variant)
    assert result.passed, json.dumps(result.to_dict()["outputs"], indent=1)


@pytest.mark.gpu
def test_timing_cache_is_reused_and_engine_options_recorded(gpu_artifact):
    manifest = read_manifest(gpu_artifact)
    cache = gpu_artifact / "shared.cache"
    first = EngineOptions(max_batch=4, opt_batch=2, timing_cache=cache, opt_level=0)
    build_engines(gpu_artifact, manifest, first, Progress(quiet=True))
    size = cache.stat().st_size
    assert size > 0
    (record,) = build_engines(gpu_artifact, read_manifest(gpu_artifact),
                              dataclasses.replace(first, hardware_compatibility="ampere_plus"), Progress(quiet=True))
    assert cache.stat().st_size >= size
    assert record.hardware_compatibility == "ampere_plus" and record.version_compatible is False
    assert record.profile.to_dict() == {"min": 1, "opt": 2, "max": 4}


@pytest.mark.gpu
def test_broken_graph_reports_the_parser_error(gpu_artifact, tmp_path):
    from ijepa_deploy.exporters.tensorrt_build import EngineFromOnnx

    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x08\x07garbage")
    opts = EngineOptions().resolved(read_manifest(gpu_artifact), tmp_path)
    with pytest.raises(IJepaDeployError, match="ONNX parser failed"):
        EngineFromOnnx(bad, read_manifest(gpu_artifact).io, opts)()


# -- the build logic against a stand-in for TensorRT (any host) --------------------------------------
def fake_tensorrt(version: str, *, plan=b"PLAN", parse_ok=True, has_same_cc=True):
    import types

    calls: dict = {"set_shape": [], "flags": [], "pool": None}
    strongly_typed = 0 if version.startswith("11.") else 1  # the enum values of 11.4 / 10.x

    class Cache:
        def __init__(self, data):
            self.data = bytes(data)

        def serialize(self):
            return self.data + b"+timings"

    class Config:
        builder_optimization_level = None
        hardware_compatibility_level = None

        def set_memory_pool_limit(self, pool, size):
            calls["pool"] = (pool, size)

        def add_optimization_profile(self, profile):
            return 0

        def create_timing_cache(self, data):
            calls["cache_in"] = bytes(data)
            return Cache(data)

        def set_timing_cache(self, cache, ignore_mismatch):
            self.cache = cache
            return True

        def get_timing_cache(self):
            return self.cache

        def set_flag(self, flag):
            calls["flags"].append(flag)

    class Profile:
        def set_shape(self, name, lo, opt, hi):
            calls["set_shape"].append((name, lo, opt, hi))

    class Network:
        num_inputs = 1

        def get_input(self, i):
            return types.SimpleNamespace(name="pixel_values")

    class Builder:
        def __init__(self, logger):
            self.logger = logger

        def create_network(self, flags):
            calls["network_flags"] = flags
            return Network()

        def create_builder_config(self):
            calls["config"] = Config()
            return calls["config"]

        def create_optimization_profile(self):
            return Profile()

        def build_serialized_network(self, network, config):
            if plan is None:
                self.logger.log(FakeILogger.Severity.ERROR, "out of memory while building tactic X")
            return plan

    class ParserError:
        def desc(self):
            return "Unsupported ONNX op FancyOp"

        def node_name(self):
            return "/layers.0/FancyOp"

        def node(self):
            return 7

        def node_operator(self):
            return "FancyOp"

    class OnnxParser:
        num_errors = 0 if parse_ok else 1

        def __init__(self, network, logger):
            pass

        def parse_from_file(self, path):
            calls["parsed"] = path
            return parse_ok

        def get_error(self, i):
            return ParserError()

    levels = dict(NONE="NONE", AMPERE_PLUS="AMPERE_PLUS")
    if has_same_cc:
        levels["SAME_COMPUTE_CAPABILITY"] = "SAME_COMPUTE_CAPABILITY"
    trt = types.SimpleNamespace(
        __version__=version, ILogger=FakeILogger, Builder=Builder, OnnxParser=OnnxParser,
        NetworkDefinitionCreationFlag=types.SimpleNamespace(STRONGLY_TYPED=strongly_typed),
        MemoryPoolType=types.SimpleNamespace(WORKSPACE="WORKSPACE"),
        HardwareCompatibilityLevel=types.SimpleNamespace(**levels),
        BuilderFlag=types.SimpleNamespace(VERSION_COMPATIBLE="VERSION_COMPATIBLE"),
    )
    return trt, calls


def stand_in_parity(manifest: Manifest):
    """Eager PyTorch's place in the stand-in tests: saved outputs of the numpy network the stand-in
    engine runs."""
    return stand_in_reference(manifest, fake_model)


@pytest.fixture
def with_fake_tensorrt(monkeypatch):
    """Stand-ins for TensorRT's builder (build module) and runtime + cuda-python (runner module): the
    built plan deserializes to an engine running ``model`` with the profile the build set."""
    from ijepa_deploy.exporters import tensorrt_build as tb
    from ijepa_deploy.runtime import tensorrt_host as host

    def install(version="10.13.3.9", model=fake_model, io=None, **kw):
        trt, calls = fake_tensorrt(version, **kw)
        cudart = calls["cudart"] = FakeCudart()

        def engine_for_plan(data):
            if data != kw.get("plan", b"PLAN"):
                return None
            _name, lo, opt, hi = calls["set_shape"][-1]
            return FakeEngine(cudart, model, io, profile=(lo[0], opt[0], hi[0]))

        monkeypatch.setattr(tb, "import_tensorrt", lambda: trt)
        monkeypatch.setattr(tb, "tensorrt_status", lambda: (True, "fake"))
        monkeypatch.setattr(tb, "gpu_info", lambda: {"device": 0, "name": "Fake GPU", "compute_capability": "8.6"})
        runtime = fake_runtime_tensorrt(engine_for_plan, version)
        monkeypatch.setattr(host, "import_tensorrt", lambda: runtime)
        monkeypatch.setattr(host, "import_cudart", lambda: cudart)
        return calls

    return install


@pytest.mark.parametrize("version, flags", [("10.13.3.9", 1 << 1), ("11.4.0.106", 0)])
def test_build_logic_with_a_stand_in(fake_artifact, with_fake_tensorrt, version, flags):
    calls = with_fake_tensorrt(version)
    (fake_artifact / "timing.cache").write_bytes(b"old")
    manifest = read_manifest(fake_artifact)
    (record,) = build_engines(fake_artifact, manifest, EngineOptions(max_batch=6, workspace_gib=0.5, opt_level=2),
                              Progress(quiet=True), parity=stand_in_parity(manifest))
    assert calls["network_flags"] == flags  # STRONGLY_TYPED on 10.x only (11.x: deprecated, ignored)
    assert calls["parsed"] == str(fake_artifact / "model_fp32.onnx")
    assert calls["set_shape"] == [("pixel_values", (1, 3, 32, 32), (6, 3, 32, 32), (6, 3, 32, 32))]
    assert calls["pool"] == ("WORKSPACE", 1 << 29)
    assert calls["config"].builder_optimization_level == 2
    assert calls["config"].hardware_compatibility_level is None and calls["flags"] == []
    assert calls["cache_in"] == b"old" and (fake_artifact / "timing.cache").read_bytes() == b"old+timings"
    assert (fake_artifact / "model_fp32.engine").read_bytes() == b"PLAN"
    saved = read_manifest(fake_artifact)
    assert saved.engines["fp32"] == record
    assert record.to_dict() == {
        "file": "model_fp32.engine", "source_graph": "fp32", "source_sha256": saved.files["model_fp32.onnx"].sha256,
        "precision": "fp32", "tensorrt_version": version, "gpu_name": "Fake GPU", "compute_capability": "8.6",
        "profile": {"min": 1, "opt": 6, "max": 6}, "hardware_compatibility": None, "version_compatible": False,
        "build_seconds": record.build_seconds, "status": "passed",
    }
    assert saved.files["model_fp32.engine"].role == "tensorrt-engine"
    (entry,) = [r for r in saved.parity if r.engine == "model_fp32.engine"]
    assert entry.passed and entry.backend == "tensorrt" and entry.graph == "fp32"
    assert entry.batch_sizes == [1, 3, 6]  # min, an odd size between, opt = max
    assert entry.retrieval is not None and entry.retrieval.passed and entry.retrieval.images == 24
    assert not calls["cudart"].live  # the runner was closed


def test_build_compatibility_options_with_a_stand_in(fake_artifact, with_fake_tensorrt):
    calls = with_fake_tensorrt("11.4.0.106")
    opts = EngineOptions(hardware_compatibility="same_compute_capability", version_compatible=True)
    manifest = read_manifest(fake_artifact)
    (record,) = build_engines(fake_artifact, manifest, opts, Progress(quiet=True), parity=stand_in_parity(manifest))
    assert calls["config"].hardware_compatibility_level == "SAME_COMPUTE_CAPABILITY"
    assert calls["flags"] == ["VERSION_COMPATIBLE"]
    assert record.hardware_compatibility == "same_compute_capability" and record.version_compatible is True

    with_fake_tensorrt("10.8.0.43", has_same_cc=False)
    with pytest.raises(BackendUnavailable, match="same_compute_capability needs TensorRT >= 10.9"):
        build_engines(fake_artifact, read_manifest(fake_artifact), opts, Progress(quiet=True))


def test_build_failures_carry_tensorrt_messages(fake_artifact, with_fake_tensorrt, capsys):
    with_fake_tensorrt(plan=None)
    with pytest.raises(BackendError, match="could not build the engine: out of memory while building tactic X"):
        build_engines(fake_artifact, read_manifest(fake_artifact), EngineOptions(), Progress(quiet=True))
    assert not (fake_artifact / "model_fp32.engine").exists() and read_manifest(fake_artifact).engines == {}
    with_fake_tensorrt(parse_ok=False)
    with pytest.raises(BackendError, match="ONNX parser failed: Unsupported ONNX op FancyOp "
                                               r"\(at /layers.0/FancyOp, FancyOp\)"):
        build_engines(fake_artifact, read_manifest(fake_artifact), EngineOptions(), Progress(quiet=True))


@pytest.mark.parametrize("profile, sizes", [((1, 8, 64), (1, 8, 31, 64)), ((1, 4, 8), (1, 3, 4, 8)),
                                            ((1, 2, 4), (1, 2, 3, 4)), ((1, 1, 1), (1,)), ((2, 2, 3), (2, 3)),
                                            ((1, 6, 6), (1, 3, 6))])
def test_engines_are_checked_at_batch_sizes_inside_their_profile(profile, sizes):
    assert profile_batch_sizes(EngineProfile(*profile)) == sizes


def test_a_perturbed_engine_is_marked_failed_and_a_good_rebuild_replaces_its_check(fake_artifact, with_fake_tensorrt):
    def perturbed(pixels):
        out = fake_model(pixels)
        noise = np.random.default_rng(0).standard_normal(out["last_hidden_state"].shape).astype(np.float32)
        hidden = out["last_hidden_state"] + noise * np.abs(out["last_hidden_state"]).mean()
        return {"last_hidden_state": hidden, "embedding": hidden.mean(axis=1)}

    with_fake_tensorrt(model=perturbed)
    manifest = read_manifest(fake_artifact)
    (record,) = build_engines(fake_artifact, manifest, EngineOptions(), Progress(quiet=True),
                              parity=stand_in_parity(manifest))
    saved = read_manifest(fake_artifact)
    assert record.status == "failed" and saved.engines["fp32"].status == "failed"
    assert saved.status == "passed"  # the graphs' own verdict stands: ONNX Runtime still serves them
    (entry,) = [r for r in saved.parity if r.engine]
    assert not entry.passed and not entry.outputs["embedding"].passed
    with pytest.raises(ParityError, match="FAILED its parity check"):
        from ijepa_deploy.runtime.model import load

        load(fake_artifact, backend="tensorrt")

    with_fake_tensorrt()
    manifest = read_manifest(fake_artifact)
    build_engines(fake_artifact, manifest, EngineOptions(), Progress(quiet=True), parity=stand_in_parity(manifest))
    saved = read_manifest(fake_artifact)
    assert saved.engines["fp32"].status == "passed"
    assert [r.passed for r in saved.parity if r.engine] == [True]  # replaced, not appended


def test_an_engine_that_cannot_run_is_marked_failed(fake_artifact, with_fake_tensorrt):
    with_fake_tensorrt(io={"pixel_values": (3, 32, 32), "other": (8,)})  # lacks the manifest's outputs
    manifest = read_manifest(fake_artifact)
    with pytest.raises(ArtifactError, match="engine tensors are"):
        build_engines(fake_artifact, manifest, EngineOptions(), Progress(quiet=True), parity=stand_in_parity(manifest))
    assert read_manifest(fake_artifact).engines["fp32"].status == "failed"


# -- ijepa-build end to end on a real artifact, TensorRT stood in by ONNX Runtime ----------------------
def onnxruntime_engine(graph: Path, scale: float = 0.0):
    """The stand-in engine's network: the artifact's graph in ONNX Runtime, outputs perturbed by
    ``scale`` times their mean magnitude (0: exact)."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(graph), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    rng = np.random.default_rng(0)

    def run(pixels):
        out = dict(zip(names, session.run(names, {"pixel_values": pixels})))
        if scale:
            out = {k: v + scale * np.abs(v).mean() * rng.standard_normal(v.shape).astype(np.float32)
                   for k, v in out.items()}
        return out

    return run


@pytest.mark.parametrize("scale, code", [(0.0, 0), (0.5, 1)])
def test_ijepa_build_checks_engines_and_exits_1_on_a_perturbed_one(tiny_artifact, tmp_path, with_fake_tensorrt,
                                                                  capsys, scale, code):
    from ijepa_deploy.cli.build import main
    from ijepa_deploy.runtime.model import load

    directory = tmp_path / "tiny"
    shutil.copytree(tiny_artifact, directory)
    manifest = read_manifest(directory)
    io = {t.name: tuple(t.shape[1:]) for t in (*manifest.io.inputs, *manifest.io.outputs)}
    with_fake_tensorrt(model=onnxruntime_engine(directory / "model.onnx", scale), io=io)
    with pytest.raises(SystemExit) as info:
        main([str(directory), "--max-batch", "4", "--opt-batch", "2", "--quiet"])
    out, err = capsys.readouterr()
    assert info.value.code == code, err
    saved = read_manifest(directory)
    record = saved.engines["fp32"]
    (entry,) = [r for r in saved.parity if r.engine == "model_fp32.engine"]
    assert entry.batch_sizes == [1, 2, 3, 4] and entry.backend == "tensorrt"
    assert "min cosine" in out and "overlap@k" in out  # ijepa-export's summary table
    assert "fp32      tensorrt" in out
    if code == 0:
        assert record.status == "passed" and entry.passed and err == ""
        assert "engine    fp32: model_fp32.engine" in out and "parity PASSED at batch sizes [1, 2, 3, 4]" in out
        with load(directory, backend="tensorrt") as model:
            assert model.embed([bundled_photo()]).shape == (1, 192)
    else:
        assert record.status == "failed" and not entry.passed
        assert "FAIL" in out and "parity FAILED" in out
        assert err.startswith("error: ") and "engine parity check FAILED for model_fp32.engine" in err
        assert "Traceback" not in err


def bundled_photo():
    from ijepa_deploy.runtime.photos import bundled_images

    return bundled_images()[0]


def test_export_engine_step_fails_the_export_on_a_perturbed_engine(tiny_artifact, tmp_path, with_fake_tensorrt):
    from ijepa_deploy.exporters.engine_step import engine_step
    from ijepa_deploy.exporters.pipeline import ExportOptions
    from ijepa_deploy.runtime.acceptance.summary import summary_table

    directory = tmp_path / "tiny"
    shutil.copytree(tiny_artifact, directory)
    manifest = read_manifest(directory)
    io = {t.name: tuple(t.shape[1:]) for t in (*manifest.io.inputs, *manifest.io.outputs)}
    with_fake_tensorrt(model=onnxruntime_engine(directory / "model.onnx", 0.5), io=io)
    engine_step(ExportOptions(model="random:tiny", output=directory, max_batch=4), directory, manifest,
                 Progress(quiet=True))
    # the fp32 graph still passed: the artifact is partial, the engine alone is refused
    assert manifest.status == "partial" and manifest.engines["fp32"].status == "failed"
    assert "TensorRT engine parity check failed: model_fp32.engine" in manifest.notes
    assert read_manifest(directory).status == "partial"
    table = summary_table(manifest, directory)
    assert "parity FAILED at batch sizes [1, 3, 4]" in table and "TensorRT engine parity check failed" in table
