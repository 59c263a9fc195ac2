"""The CI API check's machinery: our TensorRT code may only use Python APIs that TensorRT 11.x (and
10.8, the oldest release we support) really have.

The API is not typed by hand: ``.ci/trt_api_surface.py`` downloads NVIDIA's bindings wheel from
PyPI (``tensorrt-cu13-bindings`` 11.4 / ``tensorrt-cu12-bindings`` 10.8, ~1.3 MB each), imports its
``tensorrt.so`` with empty stand-ins for the GPU libraries and dumps ``dir()`` of the module and of
every class, with each method's return type. Here ``ast`` walks ``exporters/tensorrt_build.py``,
``runtime/tensorrt_runner.py`` (with its ``tensorrt_slots.py`` and ``tensorrt_logging.py``) and
``runtime/tensorrt_host.py``, infers which variables hold which
TensorRT objects (``trt.Builder(...)`` -> Builder, ``builder.create_network()`` -> INetworkDefinition,
...) and checks every attribute used on ``trt``, on its classes/enums and on those objects against
the extracted classes. APIs removed in TensorRT 10/11 (BuilderFlag.FP16/INT8, int8_calibrator,
execute_async_v2, build_engine, get_binding_*, ...) must not appear in our code at all, whatever the
receiver.

The wheel is cached (IJEPA_TRT_API_CACHE, default ~/.cache/ijepa-deploy/trt-api). If it cannot be
downloaded the test FAILS under CI=1 and skips (with the reason) elsewhere.
"""

from __future__ import annotations

import ast
import importlib.util
import re
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHECKED = (
    ROOT / "exporters" / "tensorrt_build.py",
    ROOT / "runtime" / "tensorrt_runner.py",
    ROOT / "runtime" / "tensorrt_slots.py",
    ROOT / "runtime" / "tensorrt_logging.py",
    ROOT / "runtime" / "tensorrt_host.py",
)
CUDART_CHECKED = ("runtime/tensorrt_runner.py", "runtime/tensorrt_slots.py", "runtime/tensorrt_host.py")
TRT_NAME = "trt"  # the only name our code binds the tensorrt module to

# Gone from TensorRT 11 (or already from 10.0): flagged on any receiver, as attribute, name or string.
REMOVED_ANYWHERE = {
    "int8_calibrator",
    "execute_async_v2",
    "build_engine",
    "build_cuda_engine",
    "platform_has_fast_fp16",
    "platform_has_fast_int8",
    "platform_has_tf32",
    "device_memory_size",
    "EXPLICIT_BATCH",
    "max_workspace_size",
    "max_batch_size",
    "num_bindings",
    "binding_is_input",
    "set_dynamic_range",
    "get_dynamic_range",
    "algorithm_selector",
    "set_quantization_flag",
    "create_execution_context_without_device_memory",
    "get_device_memory_size_for_profile",
}
REMOVED_PREFIXES = ("get_binding_", "set_binding_", "IInt8", "get_profile_shape")
REMOVED_BUILDER_FLAGS = {
    "FP16",
    "INT8",
    "BF16",
    "FP8",
    "INT4",
    "FP4",
    "OBEY_PRECISION_CONSTRAINTS",
    "PREFER_PRECISION_CONSTRAINTS",
    "STRICT_TYPES",
}
# Must be resolved to their class and checked, so a broken type inference cannot pass silently.
REQUIRED_CHECKS = {
    ("Builder", "create_network"),
    ("Builder", "create_builder_config"),
    ("Builder", "create_optimization_profile"),
    ("Builder", "build_serialized_network"),
    ("OnnxParser", "parse_from_file"),
    ("OnnxParser", "num_errors"),
    ("OnnxParser", "get_error"),
    ("ParserError", "desc"),
    ("INetworkDefinition", "num_inputs"),
    ("IBuilderConfig", "set_memory_pool_limit"),
    ("IBuilderConfig", "builder_optimization_level"),
    ("IBuilderConfig", "create_timing_cache"),
    ("IBuilderConfig", "set_timing_cache"),
    ("IBuilderConfig", "get_timing_cache"),
    ("ITimingCache", "serialize"),
    ("IBuilderConfig", "add_optimization_profile"),
    ("IOptimizationProfile", "set_shape"),
    ("IBuilderConfig", "hardware_compatibility_level"),
    ("IBuilderConfig", "set_flag"),
    ("Runtime", "deserialize_cuda_engine"),
    ("Runtime", "engine_host_code_allowed"),
    ("ICudaEngine", "num_io_tensors"),
    ("ICudaEngine", "get_tensor_name"),
    ("ICudaEngine", "get_tensor_mode"),
    ("ICudaEngine", "get_tensor_dtype"),
    ("ICudaEngine", "get_tensor_profile_shape"),
    ("ICudaEngine", "create_execution_context"),
    ("IExecutionContext", "set_input_shape"),
    ("IExecutionContext", "get_tensor_shape"),
    ("IExecutionContext", "set_tensor_address"),
    ("IExecutionContext", "execute_async_v3"),
    ("NetworkDefinitionCreationFlag", "STRONGLY_TYPED"),
    ("MemoryPoolType", "WORKSPACE"),
    ("TensorIOMode", "INPUT"),
    ("BuilderFlag", "VERSION_COMPATIBLE"),
    ("HardwareCompatibilityLevel", "AMPERE_PLUS"),
    ("ILogger.Severity", "ERROR"),
    ("ILogger", "log"),
    ("<module>", "__version__"),
    ("<module>", "nptype"),
    ("<module>", "Runtime"),
    ("<module>", "OnnxParser"),
}


def load_surface_module():
    spec = importlib.util.spec_from_file_location("trt_api_surface", ROOT / ".ci" / "trt_api_surface.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# -- the API a release has ---------------------------------------------------------------------
@dataclass
class Surface:
    """The names one TensorRT release exposes (``mode`` import: per class; strings: flat set)."""

    version: str
    mode: str
    module: set = field(default_factory=set)
    classes: dict = field(default_factory=dict)
    names: set = field(default_factory=set)

    @classmethod
    def from_dump(cls, dump: dict) -> Surface:
        if dump["mode"] == "import":
            return cls(dump["version"], "import", set(dump["module"]), dump["classes"])
        return cls(dump["version"], "strings", names=set(dump["names"]))

    def _flat(self, name: str) -> bool:
        # The linker stores "INT8" as the tail of "UINT8": a name is present if some string ends with it.
        return name in self.names or any(n.endswith(name) for n in self.names)

    def is_class(self, qualname: str) -> bool:
        return qualname in self.classes

    def has(self, owner: str | None, name: str) -> bool:
        if self.mode == "strings":
            return self._flat(name)
        if owner == "<module>":
            return name in self.module
        if owner is None:  # a TensorRT object whose class we could not infer
            return name in self.module or any(name in members for members in self.classes.values())
        return name in self.classes.get(owner, {})

    def returns(self, owner: str, name: str) -> str | None:
        """The TensorRT class a method/property of ``owner`` returns (None: not a TensorRT class)."""
        member = self.classes.get(owner, {}).get(name) or {}
        for ret in member.get("returns", []):
            if ret in self.classes:
                return ret
        return None

    def all_names(self) -> set:
        if self.mode == "strings":
            return set(self.names)
        found = set(self.module)
        for members in self.classes.values():
            found |= set(members)
        return found


# -- what our code uses ------------------------------------------------------------------------
@dataclass(frozen=True)
class Use:
    file: str
    line: int
    owner: str | None  # "<module>", a class name, or None (a TensorRT object of unknown class)
    name: str
    optional: bool  # getattr(x, "NAME", default): guarded, may be missing in older releases

    def where(self) -> str:
        return f"{self.file}:{self.line}"


# A value's kind: ("module",), ("class", "BuilderFlag"), ("object", "ICudaEngine"), ("object", None).
def _kind_of(node, env: dict, surface: Surface):
    if isinstance(node, ast.Name):
        if node.id == TRT_NAME:
            return ("module",)
        return env.get(node.id)
    if isinstance(node, ast.Attribute):
        if isinstance(node.value, ast.Name) and node.value.id == "self":
            return env.get("self." + node.attr)
        base = _kind_of(node.value, env, surface)
        return _member_kind(base, node.attr, surface)
    if isinstance(node, ast.Call):
        func = node.func
        if (
            isinstance(func, ast.Name)
            and func.id == "getattr"
            and len(node.args) >= 2
            and isinstance(node.args[1], ast.Constant)
            and isinstance(node.args[1].value, str)
        ):
            return _member_kind(_kind_of(node.args[0], env, surface), node.args[1].value, surface)
        base = _kind_of(func, env, surface)
        if base is None:
            return None
        if base[0] == "class":
            return ("object", base[1])
        if base[0] == "method":
            return ("object", base[1])
        return ("object", None)
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith(TRT_NAME + "."):
        # string annotation "trt.ICudaEngine"
        try:
            return _kind_of(ast.parse(node.value, mode="eval").body, env, surface)
        except SyntaxError:
            return None
    return None


def _member_kind(base, name: str, surface: Surface):
    if base is None:
        return None
    if base[0] == "module":
        return ("class", name) if surface.is_class(name) else ("object", None)
    if base[0] == "class":
        nested = f"{base[1]}.{name}"
        if surface.is_class(nested):
            return ("class", nested)
        return ("object", base[1])  # an enum member is an instance of its enum
    if base[0] == "object" and base[1] is not None:
        ret = surface.returns(base[1], name)
        member = surface.classes.get(base[1], {}).get(name, {})
        if member.get("kind") == "method":
            return ("method", ret)
        return ("object", ret)
    return ("object", None)


def _owner(kind) -> str:
    if kind[0] == "module":
        return "<module>"
    return kind[1] or "?"


def _bind(target, kind, env: dict) -> None:
    if kind is None or kind[0] == "method":
        return
    if isinstance(target, ast.Name):
        env[target.id] = kind
    elif isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name) and target.value.id == "self":
        env["self." + target.attr] = kind
    elif isinstance(target, (ast.Tuple, ast.List)):
        for elt in target.elts:  # unpacking a TensorRT result: its parts are TensorRT values too
            _bind(elt, ("object", None), env)


def _assignments(body_owner, env: dict, surface: Surface) -> None:
    """Bind names assigned in this scope (not in nested functions) to kinds, to a fixpoint."""
    nodes = list(_scope_nodes(body_owner))
    for _ in range(4):
        before = dict(env)
        for node in nodes:
            if isinstance(node, ast.Assign):
                if (
                    len(node.targets) == 1
                    and isinstance(node.targets[0], ast.Tuple)
                    and isinstance(node.value, ast.Tuple)
                ):
                    for t, v in zip(node.targets[0].elts, node.value.elts):
                        _bind(t, _kind_of(v, env, surface), env)
                    continue
                kind = _kind_of(node.value, env, surface)
                for target in node.targets:
                    _bind(target, kind, env)
            elif isinstance(node, (ast.AnnAssign, ast.AugAssign)) and node.value is not None:
                _bind(node.target, _kind_of(node.value, env, surface), env)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                pass
        if env == before:
            break


def _scope_nodes(owner):
    """Nodes of ``owner``'s own scope: not descending into nested defs/classes (their bodies are
    scopes of their own; the defining expressions such as base classes stay here)."""
    stack = list(ast.iter_child_nodes(owner))
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            stack.extend(node.decorator_list if hasattr(node, "decorator_list") else [])
            continue
        if isinstance(node, ast.ClassDef):
            stack.extend(node.bases)
            stack.extend(node.decorator_list)
            continue
        stack.extend(ast.iter_child_nodes(node))


def _annotated_params(func, env: dict, surface: Surface) -> None:
    args = [*func.args.posonlyargs, *func.args.args, *func.args.kwonlyargs]
    for arg in args:
        if arg.annotation is not None:
            kind = _kind_of(arg.annotation, env, surface)
            if kind is not None and kind[0] == "class":
                env[arg.arg] = ("object", kind[1])
            elif arg.arg == TRT_NAME:
                env[arg.arg] = ("module",)


def collect_uses(source: str, filename: str, surface: Surface) -> tuple[list[Use], list[str]]:
    """Every TensorRT attribute ``source`` uses, and the problems found without a surface lookup
    (removed APIs, tensorrt imported under another name)."""
    tree = ast.parse(source, filename)
    uses: list[Use] = []
    problems: list[str] = []

    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            mod = node.module if isinstance(node, ast.ImportFrom) else None
            for alias in node.names:
                full = f"{mod}.{alias.name}" if mod else alias.name
                if full.split(".")[0] in ("tensorrt", "tensorrt_bindings"):
                    if isinstance(node, ast.ImportFrom) or (alias.asname or alias.name) != TRT_NAME:
                        problems.append(
                            f"{filename}:{node.lineno}: import tensorrt only as "
                            f"'import tensorrt as {TRT_NAME}' (so the API check sees every use)"
                        )
        names = []
        if isinstance(node, ast.Attribute):
            names.append(node.attr)
        elif isinstance(node, ast.Name):
            names.append(node.id)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and re.fullmatch(r"\w+", node.value):
            names.append(node.value)
        for name in names:
            if name in REMOVED_ANYWHERE or name.startswith(REMOVED_PREFIXES):
                problems.append(f"{filename}:{node.lineno}: {name} was removed from TensorRT (10.0/11.0)")
        if isinstance(node, ast.Attribute) and node.attr in REMOVED_BUILDER_FLAGS:
            chain = ast.unparse(node.value)
            if chain.endswith("BuilderFlag"):
                problems.append(
                    f"{filename}:{node.lineno}: {chain}.{node.attr}: precision builder flags are "
                    "gone in TensorRT 11 (precision comes from the graph)"
                )
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "getattr"
            and len(node.args) >= 2
            and isinstance(node.args[1], ast.Constant)
            and node.args[1].value in REMOVED_BUILDER_FLAGS
            and ast.unparse(node.args[0]).endswith("BuilderFlag")
        ):
            problems.append(f"{filename}:{node.lineno}: BuilderFlag.{node.args[1].value} is gone in TensorRT 11")

    def visit_scope(owner, outer_env: dict, self_env: dict):
        env = dict(outer_env)
        env.update(self_env)
        if isinstance(owner, (ast.FunctionDef, ast.AsyncFunctionDef)):
            _annotated_params(owner, env, surface)
        _assignments(owner, env, surface)
        for key, kind in env.items():
            if key.startswith("self."):
                self_env[key] = kind
        for node in _scope_nodes(owner):
            receiver, name, optional = None, None, False
            if isinstance(node, ast.Attribute):
                receiver, name = node.value, node.attr
            elif (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in ("getattr", "hasattr")
                and len(node.args) >= 2
                and isinstance(node.args[1], ast.Constant)
                and isinstance(node.args[1].value, str)
            ):
                receiver, name = node.args[0], node.args[1].value
                optional = node.func.id == "hasattr" or len(node.args) == 3
            if isinstance(node, ast.ClassDef):
                # A Python subclass of a TensorRT class (our ILogger): its overrides must exist there.
                for base in node.bases:
                    kind = _kind_of(base, env, surface)
                    if kind is not None and kind[0] == "class":
                        for item in node.body:
                            if isinstance(item, ast.FunctionDef) and not item.name.startswith("_"):
                                uses.append(Use(filename, item.lineno, kind[1], item.name, False))
                continue
            if receiver is None or (name.startswith("__") and name != "__version__"):
                continue
            if isinstance(receiver, ast.Name) and receiver.id == "self":
                continue
            kind = _kind_of(receiver, env, surface)
            if kind is None or kind[0] == "method":
                continue
            uses.append(Use(filename, node.lineno, _owner(kind), name, optional))
        for node in _scope_nodes(owner):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                visit_scope(node, {k: v for k, v in env.items() if not k.startswith("self.")}, self_env)

    self_env: dict = {}
    for _ in range(2):  # second pass: self.x bound in one method, used in another
        uses.clear()
        visit_scope(tree, {}, self_env)
    return sorted(set(uses), key=lambda u: (u.file, u.line, u.name)), sorted(set(problems))


def check_source(source: str, filename: str, surfaces: list[Surface]) -> tuple[list[str], list[Use]]:
    """Problems in ``source`` against every surface (the newest strictly; optional uses need only exist
    in the newest), plus the uses that were checked."""
    newest = surfaces[0]
    uses, problems = collect_uses(source, filename, newest)
    for use in uses:
        for i, surface in enumerate(surfaces):
            if use.optional and i > 0:
                continue
            if not surface.has(None if use.owner == "?" else use.owner, use.name):
                owner = (
                    "tensorrt" if use.owner == "<module>" else (use.owner if use.owner != "?" else "a TensorRT object")
                )
                problems.append(
                    f"{use.where()}: {owner}.{use.name} does not exist in TensorRT {surface.version} "
                    f"({surface.mode} surface)"
                )
    return sorted(set(problems)), uses


CUDART_NAMES = ("cudart", "self._cudart")  # how the runner binds cuda.bindings.runtime


def cudart_uses(source: str, filename: str) -> list[tuple[int, tuple[str, ...]]]:
    """Attribute chains on the cuda runtime module: (line, ("cudaMemcpyKind", "cudaMemcpyHostToDevice"))."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if not isinstance(node, ast.Attribute):
            continue
        chain, inner = [], node
        while isinstance(inner, ast.Attribute) and ast.unparse(inner) not in CUDART_NAMES:
            chain.append(inner.attr)
            inner = inner.value
        if ast.unparse(inner) in CUDART_NAMES and chain:
            found.append((node.lineno, tuple(reversed(chain))))
    # keep only the longest chain per node family (cudart.a.b also yields cudart.a)
    longest = {c for _, c in found}
    return sorted({(ln, c) for ln, c in found if not any(o != c and o[: len(c)] == c for o in longest)})
