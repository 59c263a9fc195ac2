"""Extract the real Python API of a TensorRT release from NVIDIA's bindings wheel.

The bindings wheel (``tensorrt-cu12-bindings`` / ``tensorrt-cu13-bindings`` on PyPI, ~1.3 MB) holds
``tensorrt_bindings/tensorrt.so``, the pybind11 module behind ``import tensorrt``. It cannot be
imported without NVIDIA's libraries (libnvinfer.so.N etc., which only NVIDIA's own index serves),
but the module only *links* a handful of C entry points of those libraries (createInferBuilder_INTERNAL,
getPluginRegistry, ...) and calls none of them at import. So this script:

1. ``pip download --no-deps`` the wheel into a cache directory and unpacks it;
2. compiles empty stand-ins for the missing libraries next to ``tensorrt.so`` (its RPATH is
   ``$ORIGIN``), adding every library / symbol the loader reports missing until the import works;
3. imports the module in a child process and dumps ``dir()`` of the module and of every class,
   with the return type of each method (from pybind11's signature docstrings), as JSON.

Nothing of the stand-ins is ever called: they only let Python read the binding's own tables, so
the names are exactly what that TensorRT release exposes. Without a C compiler it falls back to
the string table of ``tensorrt.so`` (``mode: "strings"``: a flat set of identifiers, matched by
suffix because the linker merges string tails).

    python .ci/trt_api_surface.py --release 11 --out trt11.json   # or --release 10, --version X

Environment: ``IJEPA_TRT_API_CACHE`` (cache directory, default ~/.cache/ijepa-deploy/trt-api).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

# The releases the project is checked against: the newest 11.x and the oldest 10.x it supports
# (pyproject: tensorrt>=10.8). cu12 and cu13 bindings expose the same Python API.
DEFAULT_RELEASES = {
    "11": ("tensorrt-cu13-bindings", "11.4.0.106"),
    "10": ("tensorrt-cu12-bindings", "10.8.0.43"),
}
SEED_SYMBOLS = (
    "createInferBuilder_INTERNAL",
    "createInferRefitter_INTERNAL",
    "createInferRuntime_INTERNAL",
    "getBuilderPluginRegistry",
    "getPluginRegistry",
    "initLibNvInferPlugins",
    "createNvOnnxParser_INTERNAL",
    "createNvOnnxParserRefitter_INTERNAL",
    "getNvOnnxParserVersion",
)
PROBE_VERSION = 2  # bump when the probe changes (invalidates cached surfaces)
_IDENT = re.compile(rb"[A-Za-z_][A-Za-z0-9_]*\Z")


class SurfaceError(RuntimeError):
    """The wheel could not be fetched or read (message says which step and why)."""


def cache_dir() -> Path:
    root = os.environ.get("IJEPA_TRT_API_CACHE")
    return Path(root) if root else Path.home() / ".cache" / "ijepa-deploy" / "trt-api"


def download_wheel(package: str, version: str, dest: Path, timeout: float = 120) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    stem = package.replace("-", "_")
    found = sorted(dest.glob(f"{stem}-{version}-*.whl"))
    if found:
        return found[0]
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--disable-pip-version-check",
        "-q",
        "-d",
        str(dest),
        f"{package}=={version}",
    ]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SurfaceError(f"pip download {package}=={version}: {exc}") from None
    found = sorted(dest.glob(f"{stem}-{version}-*.whl"))
    if proc.returncode != 0 or not found:
        lines = [ln for ln in (proc.stderr or proc.stdout).strip().splitlines() if not ln.startswith("WARNING")]
        tail = lines[-2:] or [f"exit {proc.returncode}"]
        raise SurfaceError(f"pip download {package}=={version} failed: {' / '.join(tail)}")
    return found[0]


def unpack(wheel: Path, dest: Path) -> Path:
    """Unpack the wheel's ``tensorrt_bindings`` package; returns the directory holding it."""
    target = dest / wheel.stem
    so = target / "tensorrt_bindings" / "tensorrt.so"
    if not so.is_file():
        with zipfile.ZipFile(wheel) as zf:
            members = [m for m in zf.namelist() if m.startswith("tensorrt_bindings/")]
            if not any(m.endswith("tensorrt.so") for m in members):
                raise SurfaceError(f"{wheel.name} holds no tensorrt_bindings/tensorrt.so")
            zf.extractall(target, members)
    return target


_PROBE = r"""
import inspect, json, re, sys
import tensorrt_bindings as trt

RET = re.compile(r"\)\s*->\s*([A-Za-z0-9_.:\[\], ]+?)\s*$")

def returns(obj):
    doc = getattr(obj, "__doc__", None) or ""
    types = set()
    for line in doc.splitlines():
        m = RET.search(line.strip())
        if m and "(" in line:
            t = m.group(1).strip()
            t = t.replace("tensorrt_bindings.tensorrt.", "").replace("tensorrt.tensorrt.", "")
            t = {"nvonnxparser::IParserError": "ParserError"}.get(t, t)
            types.add(t)
    return sorted(types)

classes, module = {}, {}
def walk(prefix, cls):
    members = {}
    for name in dir(cls):
        try:
            value = inspect.getattr_static(cls, name)
        except AttributeError:
            value = getattr(cls, name, None)
        if isinstance(value, type):
            members[name] = {"kind": "class"}
            if value.__module__.startswith("tensorrt") and f"{prefix}.{name}" not in classes and name != "__class__":
                walk(f"{prefix}.{name}", value)
        elif isinstance(value, property):
            members[name] = {"kind": "property", "returns": returns(value.fget)}
        elif callable(value) or type(value).__name__ in ("instancemethod", "staticmethod", "classmethod"):
            members[name] = {"kind": "method", "returns": returns(getattr(cls, name, value))}
        else:
            members[name] = {"kind": "value"}
    classes[prefix] = members

for name in dir(trt):
    value = getattr(trt, name)
    if isinstance(value, type):
        module[name] = {"kind": "class"}
        walk(name, value)
    elif callable(value):
        module[name] = {"kind": "function", "returns": returns(value)}
    else:
        module[name] = {"kind": "value"}
json.dump({"mode": "import", "version": getattr(trt, "__version__", None), "module": module,
           "classes": classes}, sys.stdout)
"""


def _compile_stubs(pkg: Path, libs: set[str], symbols: set[str], cc: str) -> None:
    src = pkg / "_ijepa_stub.c"
    src.write_text("".join(f"void *{s}(void) {{ return 0; }}\n" for s in sorted(symbols)))
    for lib in sorted(libs):
        out = pkg / lib
        proc = subprocess.run(
            [cc, "-shared", "-fPIC", "-o", str(out), f"-Wl,-soname,{lib}", str(src)], capture_output=True, text=True
        )
        if proc.returncode != 0:
            raise SurfaceError(f"compiling a stand-in for {lib} failed: {proc.stderr.strip()[:300]}")


def import_surface(root: Path, timeout: float = 60) -> dict:
    """Import the unpacked bindings with stand-in libraries and dump the API (see module doc)."""
    cc = shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc") or shutil.which("clang")
    if not cc:
        raise SurfaceError("no C compiler (cc/gcc/clang) to build stand-in libraries")
    pkg = root / "tensorrt_bindings"
    libs: set[str] = set()
    symbols: set[str] = set(SEED_SYMBOLS)
    env = dict(os.environ, PYTHONPATH=str(root), PYTHONDONTWRITEBYTECODE="1")
    last = ""
    for _ in range(40):
        if libs:
            _compile_stubs(pkg, libs, symbols, cc)
        proc = subprocess.run(
            [sys.executable, "-c", _PROBE], capture_output=True, text=True, env=env, timeout=timeout, cwd=str(root)
        )
        if proc.returncode == 0:
            return json.loads(proc.stdout)
        last = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"exit {proc.returncode}"
        missing_lib = re.search(r"(lib[\w.+-]+\.so[\w.]*): cannot open shared object file", last)
        missing_sym = re.search(r"undefined symbol: (\w+)", last)
        if missing_lib and missing_lib.group(1) not in libs:
            libs.add(missing_lib.group(1))
        elif missing_sym and missing_sym.group(1) not in symbols:
            symbols.add(missing_sym.group(1))
        else:
            break
    raise SurfaceError(f"importing the bindings with stand-in libraries failed: {last}")


def strings_surface(root: Path) -> dict:
    """Fallback: every identifier-like NUL-terminated string in tensorrt.so."""
    import ast

    data = (root / "tensorrt_bindings" / "tensorrt.so").read_bytes()
    names = {c.decode() for c in data.split(b"\0") if 1 < len(c) < 120 and _IDENT.match(c)}
    # The package's __init__.py adds pure-Python names (nptype, volume, __version__, ...).
    init = ast.parse((root / "tensorrt_bindings" / "__init__.py").read_text())
    for node in ast.walk(init):
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
    names = sorted(names)
    return {"mode": "strings", "names": names}


def surface(package: str, version: str, *, allow_strings: bool = True) -> dict:
    base = cache_dir()
    wheel = download_wheel(package, version, base / "wheels")
    root = unpack(wheel, base / "unpacked")
    cached = root / f"surface-v{PROBE_VERSION}.json"
    if cached.is_file():
        return json.loads(cached.read_text())
    try:
        result = import_surface(root)
    except SurfaceError as exc:
        if not allow_strings:
            raise
        result = strings_surface(root)
        result["why_strings"] = str(exc)
    result.update(package=package, wheel=wheel.name, version=version)
    if result["mode"] == "import":
        cached.write_text(json.dumps(result))
    return result


# cuda-python's runtime module (cuda.bindings.runtime), which the TensorRT runner uses for memory
# and streams: the newest 13.x and the 12.x that pairs with TensorRT 10 cu12 hosts.
CUDA_RELEASES = {"13": "13.5.0", "12": "12.9.4"}
CUDA_PATHFINDER = "1.9.0"  # pure-Python loader cuda-bindings imports (needs >=1.4.2 / ~=1.1)
_CUDA_PROBE = r"""
import json, sys
from cuda.bindings import runtime as rt
module = sorted(dir(rt))
classes = {n: sorted(dir(getattr(rt, n))) for n in module if isinstance(getattr(rt, n), type)}
json.dump({"mode": "import", "module": module, "classes": classes}, sys.stdout)
"""


def cuda_surface(version: str, timeout: float = 120) -> dict:
    """``dir()`` of ``cuda.bindings.runtime`` and its classes/enums for cuda-bindings ``version``
    (imports fine without a GPU or driver; calls are never made)."""
    base = cache_dir()
    wheels = [
        download_wheel("cuda-bindings", version, base / "wheels"),
        download_wheel("cuda-pathfinder", CUDA_PATHFINDER, base / "wheels"),
    ]
    root = base / "unpacked" / f"cuda-bindings-{version}"
    cached = root / "surface.json"
    if cached.is_file():
        return json.loads(cached.read_text())
    for wheel in wheels:
        with zipfile.ZipFile(wheel) as zf:
            zf.extractall(root, [m for m in zf.namelist() if m.startswith("cuda/")])
    env = dict(os.environ, PYTHONPATH=str(root), PYTHONDONTWRITEBYTECODE="1")
    proc = subprocess.run(
        [sys.executable, "-c", _CUDA_PROBE], capture_output=True, text=True, env=env, timeout=timeout, cwd=str(root)
    )
    if proc.returncode != 0:
        last = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"exit {proc.returncode}"
        raise SurfaceError(f"importing cuda.bindings.runtime {version} failed: {last}")
    result = json.loads(proc.stdout)
    result.update(package="cuda-bindings", version=version)
    cached.write_text(json.dumps(result))
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--release", choices=sorted(DEFAULT_RELEASES), default="11")
    parser.add_argument("--package", help="override the wheel name")
    parser.add_argument("--version", help="override the version")
    parser.add_argument("--out", type=Path, help="write JSON here (default: stdout summary)")
    args = parser.parse_args(argv)
    package, version = DEFAULT_RELEASES[args.release]
    result = surface(args.package or package, args.version or version)
    if args.out:
        args.out.write_text(json.dumps(result, indent=1))
    count = len(result.get("classes", {})) if result["mode"] == "import" else len(result["names"])
    print(f"{result['wheel']}: mode {result['mode']}, {count} {'classes' if result['mode'] == 'import' else 'names'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
