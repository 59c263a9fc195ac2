"""The ijepa-serve command as a process: overload (bounded queue), SIGTERM under load, libpython."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from serving_helpers import cosine, encoded_image, free_ports, images_input

from ijepa_deploy.runtime.serving.libpython import libpython_dir, with_libpython_first


def test_libpython_dir_goes_first_once():
    libdir = libpython_dir()
    if libdir is None:
        pytest.skip("this interpreter has no shared libpython (static build): no trap to fix")
    env = with_libpython_first({"LD_LIBRARY_PATH": f"/usr/lib:{libdir}:/opt/x"})
    parts = env["LD_LIBRARY_PATH"].split(os.pathsep)
    assert parts[0] == str(libdir) and parts.count(str(libdir)) == 1 and parts[-2:] == ["/usr/lib", "/opt/x"]


@pytest.fixture(scope="module")
def served_process(tiny_artifact, tmp_path_factory):
    """ijepa-serve with a tiny queue and one decoding instance, started WITHOUT the libpython fix in
    its environment: on a pyenv/conda interpreter the models only load if the command applies it."""
    http, grpc, metrics = free_ports(3)
    env = {k: v for k, v in os.environ.items() if k != "LD_LIBRARY_PATH"}
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    cmd = [
        str(Path(sys.executable).with_name("ijepa-serve")),
        str(tiny_artifact),
        "--http-port",
        str(http),
        "--grpc-port",
        str(grpc),
        "--metrics-port",
        str(metrics),
        "--max-queue",
        "2",
        "--preprocess-instances",
        "1",
        "--exit-timeout",
        "15",
    ]
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    import tritonclient.grpc as grpcclient

    client = grpcclient.InferenceServerClient(f"127.0.0.1:{grpc}")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if client.is_model_ready("ijepa") and client.is_model_ready("ijepa_pixels"):
                break
        except Exception:  # not listening yet
            pass
        time.sleep(0.5)
    else:
        proc.kill()
        pytest.fail(f"ijepa-serve did not become ready:\n{log.read_text()[-3000:]}")
    yield proc, f"127.0.0.1:{grpc}", log
    if proc.poll() is None:
        proc.kill()
        proc.wait(30)


def _heavy_request(seed: int) -> list[bytes]:
    return [encoded_image(seed * 10 + i, size=(900, 700), fmt="JPEG") for i in range(6)]


def test_overload_rejects_fast_and_stays_ready(served_process):
    import tritonclient.grpc as grpcclient
    from tritonclient.utils import InferenceServerException

    _, url, _ = served_process
    request = _heavy_request(1)

    def send(_):
        start = time.perf_counter()
        try:
            grpcclient.InferenceServerClient(url).infer("ijepa", [images_input(request)], client_timeout=120)
            return "ok", time.perf_counter() - start
        except InferenceServerException as exc:
            return str(exc), time.perf_counter() - start

    with ThreadPoolExecutor(12) as pool:
        outcomes = list(pool.map(send, range(12)))
    rejected = [(msg, t) for msg, t in outcomes if msg != "ok"]
    served = [t for msg, t in outcomes if msg == "ok"]
    assert rejected and served, outcomes
    for msg, seconds in rejected:
        assert "exceeds maximum queue size" in msg.lower(), msg
        assert seconds < max(served), "a rejected request waited longer than a served one"
    assert grpcclient.InferenceServerClient(url).is_server_ready()


def test_sigterm_finishes_in_flight_requests(served_process, tiny_artifact):
    import tritonclient.grpc as grpcclient

    from ijepa_deploy.runtime import load

    proc, url, log = served_process
    requests = [_heavy_request(100 + c) for c in range(3)]  # 1 running + 2 queued (the queue bound)

    def send(c):
        res = grpcclient.InferenceServerClient(url).infer("ijepa", [images_input(requests[c])], client_timeout=120)
        return res.as_numpy("embedding")[0]

    with ThreadPoolExecutor(3) as pool:
        futures = [pool.submit(send, c) for c in range(3)]
        time.sleep(0.3)
        assert not all(f.done() for f in futures), "requests finished before SIGTERM: make them heavier"
        os.kill(proc.pid, signal.SIGTERM)
        results = [f.result(timeout=60) for f in futures]
    assert proc.wait(60) == 0, log.read_text()[-3000:]
    with load(tiny_artifact) as model:
        for c, got in enumerate(results):
            assert cosine(got, model.embed(requests[c])).min() >= 0.99999
    assert "finishing in-flight requests" in log.read_text()
