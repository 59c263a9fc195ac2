"""Builds the C++ driver tree (``tests/runtime/cpp``: the runtime library via add_subdirectory, the
test driver and the benchmark driver) with pip's cmake + ninja. One home for the build logic:
the C++ tests' session fixture and ``ijepa-bench --cpp`` both call :func:`release_build`, into
the same incremental directory ``<repo>/build/cpp-tests/release`` (git-ignored), so a pytest run
or a bench run after it does not compile again.

Errors: :class:`CppDependencyMissing` when CMake names a missing system library (its message
names the package to install), :class:`CppBuildFailed` for anything else."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DRIVER_TREE = REPO / "tests" / "runtime" / "cpp"
BUILD_ROOT = REPO / "build" / "cpp-tests"
RELEASE_TARGETS = ("ijepa_test_driver", "ijepa_embed", "ijepa_bench_driver")
BENCH_DRIVER = "ijepa_bench_driver"

# CMake reports a missing dependency as "ijepa_deploy: <what> not found. Install <package>."
MISSING_MARK = "ijepa_deploy: "


class CppBuildFailed(Exception):
    """Configure or compile failed for a reason other than a missing system library."""


class CppDependencyMissing(CppBuildFailed):
    """A library CMake could not find; the message is CMake's line naming the package."""


def _package_dir(module: str) -> Path:
    mod = __import__(module)
    return Path(mod.__file__).resolve().parent


def cmake_exe() -> str:
    try:
        import cmake
    except ImportError:
        raise CppDependencyMissing("cmake not installed: pip install -e '.[cpp]'") from None
    return str(Path(cmake.CMAKE_BIN_DIR) / "cmake")


def ninja_exe() -> str:
    """pip's ninja: in this interpreter's scripts dir, or next to the site-packages it came from."""
    try:
        import ninja
    except ImportError:
        raise CppDependencyMissing("ninja not installed: pip install -e '.[cpp]'") from None
    candidates = [
        Path(ninja.BIN_DIR) / "ninja" if ninja.BIN_DIR else None,
        Path(sys.executable).parent / "ninja",
        Path(ninja.__file__).resolve().parents[4] / "bin" / "ninja",
    ]
    for path in candidates:
        if path is not None and path.is_file():
            return str(path)
    found = shutil.which("ninja")
    if found:
        return found
    raise CppDependencyMissing("ninja not found: install the `ninja` PyPI package (pip install -e '.[cpp]')")


def openvino_cmake_dir() -> Path:
    """<site-packages>/openvino/cmake (OpenVINOConfig.cmake), for projects consuming the installed package."""
    return _package_dir("openvino") / "cmake"


def dependency_args() -> list[str]:
    """The runtime's CMakeLists asks this Python for the pip packages' directories (openvino's
    cmake/, nlohmann-json's include/): the interpreter running the build is the one that has them."""
    try:
        openvino_cmake_dir()
        import nlohmann_json  # noqa: F401
    except ImportError as exc:
        raise CppDependencyMissing(f"{exc.name} not installed: pip install -e '.[cpp]'") from None
    return [f"-DIJEPA_PYTHON={sys.executable}"]


def configure_and_build(name: str, extra: list[str], targets: list[str] | tuple[str, ...]) -> Path:
    """Configure ``build/cpp-tests/<name>`` (Ninja) and build ``targets``; returns the build dir."""
    if not (DRIVER_TREE / "CMakeLists.txt").is_file():
        raise CppDependencyMissing(
            f"the C++ driver tree {DRIVER_TREE} is not here: the C++ build needs a source checkout of ijepa-deploy"
        )
    build = BUILD_ROOT / name
    build.mkdir(parents=True, exist_ok=True)
    configure = [
        cmake_exe(),
        "-S",
        str(DRIVER_TREE),
        "-B",
        str(build),
        "-G",
        "Ninja",
        f"-DCMAKE_MAKE_PROGRAM={ninja_exe()}",
        *dependency_args(),
        *extra,
    ]
    proc = subprocess.run(configure, capture_output=True, text=True)
    if proc.returncode != 0:
        text = proc.stdout + proc.stderr
        for line in text.splitlines():
            if MISSING_MARK in line and "not found" in line:
                raise CppDependencyMissing(line.strip())
        raise CppBuildFailed(f"cmake configure failed ({name}):\n{text[-4000:]}")
    jobs = os.environ.get("IJEPA_CPP_JOBS", "2")
    proc = subprocess.run(
        [cmake_exe(), "--build", str(build), "-j", jobs, "--target", *targets], capture_output=True, text=True
    )
    if proc.returncode != 0:
        raise CppBuildFailed(f"C++ build failed ({name}):\n{(proc.stdout + proc.stderr)[-6000:]}")
    return build


def release_build() -> Path:
    """The release build of the library, example, test driver and benchmark driver."""
    return configure_and_build("release", ["-DCMAKE_BUILD_TYPE=Release"], RELEASE_TARGETS)
