"""A stand-in for TensorRT's builder (records what the build asked of it) and the saved eager
outputs the stand-in engines are checked against."""

from __future__ import annotations

from trt_fakes import FakeILogger, fake_model

from ijepa_deploy.manifest import Manifest
from manifest_factory import stand_in_reference


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
        __version__=version,
        ILogger=FakeILogger,
        Builder=Builder,
        OnnxParser=OnnxParser,
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
