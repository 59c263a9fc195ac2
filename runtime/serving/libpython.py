"""The libpython trap of Triton's Python backend, and its fix.

The Python-backend stub (``triton_python_backend_stub``) is linked against ``libpython3.X.so.1.0``
and finds it through the dynamic loader. Under a pyenv, conda or venv-from-a-custom-build
interpreter the loader finds the *system* library first (Debian's 3.11.2 here) while the stub's
``sys.path`` is the interpreter's own (3.11.7 here): the stdlib and the C core disagree and model
initialisation dies with ``'_thread.RLock' object has no attribute '_recursion_count'``. Putting
this interpreter's own ``sysconfig`` LIBDIR first on ``LD_LIBRARY_PATH`` makes the stub load the
matching library. tritonserver (and so the stub) inherits the environment of the process that
starts it, so the fix is applied to ``os.environ`` before PyTriton launches the server.
"""

from __future__ import annotations

import os
import sysconfig
from pathlib import Path


def libpython_dir() -> Path | None:
    """The directory holding this interpreter's shared libpython, or None (static build)."""
    libdir = sysconfig.get_config_var("LIBDIR")
    soname = sysconfig.get_config_var("INSTSONAME") or sysconfig.get_config_var("LDLIBRARY")
    if not libdir or not soname or ".so" not in soname:
        return None
    return Path(libdir) if (Path(libdir) / soname).exists() else None


def pytriton_libs_dir() -> Path | None:
    """The shared libraries bundled beside the ``pytriton`` package (``nvidia_pytriton.libs``).

    PyTriton finds them only when ``pytriton`` sits in one of ``site.getsitepackages()``; imported
    through a ``.pth`` file or PYTHONPATH (a venv layered on another one) it looks in the wrong
    place and tritonserver fails with ``libcudart-....so: cannot open shared object file``."""
    try:
        import pytriton
    except ImportError:
        return None
    libs = Path(pytriton.__file__).resolve().parent.parent / "nvidia_pytriton.libs"
    return libs if libs.is_dir() else None


def with_libpython_first(env: dict[str, str]) -> dict[str, str]:
    """A copy of ``env`` whose LD_LIBRARY_PATH starts with this interpreter's libpython directory
    (then PyTriton's bundled libraries; existing entries are moved, not repeated)."""
    env = dict(env)
    front = [d for d in (libpython_dir(), pytriton_libs_dir()) if d is not None]
    if not front:
        return env
    parts = [p for p in env.get("LD_LIBRARY_PATH", "").split(os.pathsep) if p and Path(p) not in front]
    env["LD_LIBRARY_PATH"] = os.pathsep.join([*(str(d) for d in front), *parts])
    return env


def apply_libpython_fix() -> None:
    """Fix this process's environment so the tritonserver it starts inherits the right library."""
    fixed = with_libpython_first(dict(os.environ))
    if "LD_LIBRARY_PATH" in fixed:
        os.environ["LD_LIBRARY_PATH"] = fixed["LD_LIBRARY_PATH"]
