"""Run one step (a picklable callable) in a fresh Python process, or here.

A fresh interpreter (not a fork) is what the steps need: a precision step's protobuf and ONNX
Runtime heap is returned to the OS when its process ends, so steps' peaks do not add up, and a
benchmark memory probe sees only the backend it loads. The job is pickled to a file, the child
runs ``python -m ijepa_deploy.child_process JOB RESULT`` and pickles back the result, the job
after the call (its state, e.g. which code path it took) and its own peak RSS.
"""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from ijepa_deploy.errors import BackendError
from ijepa_deploy.memory import peak_rss_gib

DIED_HINT = "free RAM for the step, or fewer concurrent jobs"


def run_step(job, isolate: bool, *, timeout: float | None = None, env: dict | None = None, died_hint: str = DIED_HINT):
    """``job()`` in a fresh process (``isolate``) or in this one. Returns ``(result, job after the
    call, peak RSS GiB of the process that ran it)``. Exceptions raised by the job propagate either
    way; a child that dies or outlives ``timeout`` seconds raises IJepaDeployError."""
    if not isolate:
        result = job()
        return result, job, round(peak_rss_gib(), 2)
    name = type(job).__name__
    with tempfile.TemporaryDirectory(prefix="ijepa-child-") as tmp:
        job_path, out_path = Path(tmp) / "job.pickle", Path(tmp) / "result.pickle"
        job_path.write_bytes(pickle.dumps(job))
        cmd = [sys.executable, "-m", "ijepa_deploy.child_process", str(job_path), str(out_path)]
        try:
            # the child's stdout goes to our stderr: the caller's stdout stays parseable
            proc = subprocess.run(cmd, env={**os.environ, **(env or {})}, timeout=timeout, stdout=2)
        except subprocess.TimeoutExpired:
            raise BackendError(
                name, f"its worker process did not finish within {timeout:.0f} s", "a step that finishes in time"
            ) from None
        if not out_path.is_file():
            how = f"killed by signal {-proc.returncode}" if proc.returncode < 0 else f"exit code {proc.returncode}"
            raise BackendError(
                name, f"its worker process died ({how}; killed by the OS: most likely out of memory)", died_hint
            )
        out = pickle.loads(out_path.read_bytes())
    if "exception" in out:
        raise out["exception"]
    return out["result"], out["job"], out["peak_rss_gib"]


def _child(job_path: str, out_path: str) -> int:
    # Ctrl-C in a terminal signals the whole process group: the parent decides (subprocess.run
    # kills this child as the parent unwinds), so the child prints no KeyboardInterrupt traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    job = pickle.loads(Path(job_path).read_bytes())
    try:
        out = {"result": job(), "job": job}
    except Exception as exc:
        try:
            pickle.loads(pickle.dumps(exc))
            out = {"exception": exc}
        except Exception:  # an exception holding unpicklable state: keep its type and message
            out = {"exception": RuntimeError(f"{type(exc).__name__}: {exc}")}
    out["peak_rss_gib"] = round(peak_rss_gib(), 2)
    Path(out_path).write_bytes(pickle.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(_child(*sys.argv[1:3]))
