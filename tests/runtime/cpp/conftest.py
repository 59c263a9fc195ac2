"""Build the C++ runtime once per session (pip's cmake + ninja) and hand tests its programs.

Two builds under <repo>/build/cpp-tests/ (git-ignored; incremental across sessions): ``release``
(library, example, test driver) and ``asan`` (AddressSanitizer + UndefinedBehaviorSanitizer,
driver only) for the bad-input tests. A system library CMake cannot find is a skip that names
the Debian package (CMake's own message); any other configure or compile error fails the test.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
SOURCE = Path(__file__).resolve().parent
BUILD_ROOT = REPO / "build" / "cpp-tests"
ASSETS = REPO / "ijepa_deploy" / "assets"

# CMake reports a missing dependency as "ijepa_deploy: <what> not found. Install <package>."
MISSING_MARK = "ijepa_deploy: "


def _package_dir(module: str) -> Path:
    mod = __import__(module)
    return Path(mod.__file__).resolve().parent


def cmake_exe() -> str:
    import cmake

    return str(Path(cmake.CMAKE_BIN_DIR) / "cmake")


def ninja_exe() -> str:
    """pip's ninja: in this interpreter's scripts dir, or next to the site-packages it came from."""
    import ninja

    candidates = [Path(ninja.BIN_DIR) / "ninja" if ninja.BIN_DIR else None,
                  Path(sys.executable).parent / "ninja",
                  Path(ninja.__file__).resolve().parents[4] / "bin" / "ninja"]
    for path in candidates:
        if path is not None and path.is_file():
            return str(path)
    found = shutil.which("ninja")
    if found:
        return found
    pytest.fail("ninja not found: install the `ninja` PyPI package (pip install -e '.[cpp]')")


def dependency_args() -> list[str]:
    openvino_cmake = _package_dir("openvino") / "cmake"
    import nlohmann_json

    return [f"-DCMAKE_PREFIX_PATH={openvino_cmake}",
            f"-DIJEPA_NLOHMANN_JSON_INCLUDE={Path(str(nlohmann_json.get_include()))}"]


@dataclass
class CppBuild:
    name: str
    directory: Path
    driver: Path
    env: dict

    def run(self, *args, check: bool = False, timeout: float = 300) -> subprocess.CompletedProcess:
        proc = subprocess.run([str(self.driver), *map(str, args)], capture_output=True, text=True,
                              env=self.env, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"driver {args[0]} exited {proc.returncode}\nstdout: {proc.stdout}\n"
                                 f"stderr: {proc.stderr}")
        return proc

    def json(self, *args) -> dict:
        return json.loads(self.run(*args, check=True).stdout.strip().splitlines()[-1])


def configure_and_build(name: str, extra: list[str], targets: list[str]) -> Path:
    build = BUILD_ROOT / name
    build.mkdir(parents=True, exist_ok=True)
    configure = [cmake_exe(), "-S", str(SOURCE), "-B", str(build), "-G", "Ninja",
                 f"-DCMAKE_MAKE_PROGRAM={ninja_exe()}", *dependency_args(), *extra]
    proc = subprocess.run(configure, capture_output=True, text=True)
    if proc.returncode != 0:
        text = proc.stdout + proc.stderr
        for line in text.splitlines():
            if MISSING_MARK in line and "not found" in line:
                pytest.skip(f"C++ runtime not built: {line.strip()}")
        pytest.fail(f"cmake configure failed ({name}):\n{text[-4000:]}")
    jobs = os.environ.get("IJEPA_CPP_JOBS", "2")
    proc = subprocess.run([cmake_exe(), "--build", str(build), "-j", jobs, "--target", *targets],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.fail(f"C++ build failed ({name}):\n{(proc.stdout + proc.stderr)[-6000:]}")
    return build


@pytest.fixture(scope="session")
def cpp_build() -> CppBuild:
    build = configure_and_build("release", ["-DCMAKE_BUILD_TYPE=Release"], ["ijepa_test_driver", "ijepa_embed"])
    return CppBuild("release", build, build / "ijepa_test_driver", dict(os.environ))


@pytest.fixture(scope="session")
def cpp_asan_build() -> CppBuild:
    # Without OpenVINO: its TBB dlopens libtbbbind with RTLD_DEEPBIND, which the sanitizer runtime
    # refuses; the sanitized code is ours (manifest, checksums, decoding, preprocessing, errors).
    # Debug (-O0) compiles fastest; the checks do not depend on optimisation.
    build = configure_and_build("asan", ["-DCMAKE_BUILD_TYPE=Debug", "-DIJEPA_SANITIZE=ON",
                                         "-DIJEPA_WITH_OPENVINO=OFF", "-DIJEPA_BUILD_EXAMPLES=OFF"],
                                ["ijepa_test_driver"])
    env = dict(os.environ)
    # halt_on_error: any report fails the run; leaks of the driver's own objects are reported too.
    env["ASAN_OPTIONS"] = "halt_on_error=1:detect_leaks=1:exitcode=86"
    env["UBSAN_OPTIONS"] = "halt_on_error=1:print_stacktrace=1:exitcode=87"
    return CppBuild("asan", build, build / "ijepa_test_driver", env)


@pytest.fixture(params=["release", "asan"])
def any_build(request) -> CppBuild:
    """The bad-input tests run on the normal build and under ASan + UBSan (no OpenVINO there:
    tests that need inference ask for ``cpp_build`` only)."""
    return request.getfixturevalue("cpp_build" if request.param == "release" else "cpp_asan_build")


@pytest.fixture(scope="session")
def tiny_cls_int8_artifact(tmp_path_factory):
    """random:tiny image-classification artifact with fp32 and int8-cpu graphs."""
    from ijepa_deploy.exporters.pipeline import ExportOptions, export_artifact
    from ijepa_deploy.progress import Progress

    out = tmp_path_factory.mktemp("art") / "tiny-cls-int8"
    manifest = export_artifact(ExportOptions(model="random:tiny", task="image-classification", output=out,
                                             max_batch=8, int8=True, calib_count=16, engines=False),
                               Progress(quiet=True))
    assert manifest.status == "passed" and "int8-cpu" in manifest.graphs
    return out
