"""ijepa-serve start-up: no endpoint says ready before the models answer; starts do not fail.

Each start of the tiny artifact takes ~5 s and each stop ~10 s here (2 cores), so the default run
polls one start and loops 3 starts; the 20-start loop of issue 18 is marked slow.
"""

from __future__ import annotations

import http.client
import threading
import time

import pytest
from serving_helpers import encoded_image, free_ports, images_input

MODELS = ("ijepa", "ijepa_pixels")


def _status(port: int, path: str) -> int | None:
    """HTTP status of GET path, or None while nothing listens."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        conn.request("GET", path)
        return conn.getresponse().status
    except OSError:
        return None
    finally:
        conn.close()


def _options(artifact, **kw):
    from ijepa_deploy.runtime.serving.options import ServeOptions

    http, grpc, metrics = free_ports(3)
    return ServeOptions(artifact=artifact, http_port=http, grpc_port=grpc, metrics_port=metrics, **kw)


def _infer_ok(server) -> bool:
    import tritonclient.grpc as grpcclient

    client = grpcclient.InferenceServerClient(server.urls()["grpc"])
    return client.infer("ijepa", [images_input([encoded_image(7)])], client_timeout=60).as_numpy("embedding").shape == (1, 1, 192)


def test_nothing_says_ready_before_the_models_answer(tiny_artifact):
    """Poll every endpoint a probe would use from before start() until after it returns; the first
    time the server-level endpoint says ready, a real request must be answered."""
    from ijepa_deploy.runtime.serving.server import Server

    server = Server(_options(tiny_artifact, preprocess_instances=4))
    port = server.opts.http_port
    samples: list[tuple[float, int | None, tuple]] = []
    first_ready_infer: list[bool] = []
    started = threading.Event()

    def poll():
        while not started.is_set() or len(samples) < 3 or samples[-1][1] != 200:
            health = _status(port, "/v2/health/ready")  # server-level first: models only get readier
            models = tuple(_status(port, f"/v2/models/{m}/ready") for m in MODELS)
            samples.append((time.monotonic(), health, models))
            if health == 200 and not first_ready_infer:
                first_ready_infer.append(_infer_ok(server))
            time.sleep(0.01)

    poller = threading.Thread(target=poll, daemon=True)
    t0 = time.monotonic()
    poller.start()
    try:
        server.start()
        started.set()
        poller.join(60)
    finally:
        server.stop()
    early = [s for s in samples if s[1] == 200 and s[2] != (200, 200)]
    assert not early, f"server ready while a model was not: {early[:5]}"
    before = [s for s in samples if s[1] != 200]
    assert len(before) >= 10, f"polling did not catch the start-up ({len(before)} samples before ready)"
    assert first_ready_infer == [True]
    print(f"\nstart {max(s[0] for s in before) - t0:.2f} s to ready; {len(samples)} samples, "
          f"{len(before)} before ready (statuses seen before: {sorted({str(s[1]) for s in before})})")


def _start_stop_loop(artifact, starts: int) -> None:
    from ijepa_deploy.errors import IJepaDeployError
    from ijepa_deploy.runtime.serving.server import Server

    failures, timings = [], []
    for i in range(starts):
        server = Server(_options(artifact, preprocess_instances=4))  # 4 instances: the racy handshake
        t = time.perf_counter()
        try:
            server.start()
            timings.append(time.perf_counter() - t)
            if not _infer_ok(server):
                failures.append(f"start {i}: wrong answer")
        except IJepaDeployError as exc:
            failures.append(f"start {i}: {exc}")
        finally:
            server.stop()
    print(f"\n{starts} starts, {len(failures)} failed; start-to-ready {min(timings, default=0):.2f}-"
          f"{max(timings, default=0):.2f} s")
    assert not failures, "\n".join(failures)


def test_starts_and_stops_in_a_row_all_serve(tiny_artifact):
    _start_stop_loop(tiny_artifact, 3)


@pytest.mark.slow
def test_twenty_starts_and_stops_all_serve(tiny_artifact):
    _start_stop_loop(tiny_artifact, 20)


def test_a_model_that_does_not_load_fails_the_start_at_once(tiny_artifact, monkeypatch):
    """tritonserver exits at once when a model does not load; start() must say so within seconds,
    not after PyTriton's 120 s wait for the port."""
    from ijepa_deploy.errors import IJepaDeployError
    from ijepa_deploy.runtime.serving import server as serving

    install = serving.install_stub_model

    def broken(model_store, name):
        install(model_store, name)
        if name == "ijepa":
            model = model_store / name / "1" / "model.py"
            model.write_text(model.read_text() + "\nraise RuntimeError('simulated load failure')\n")

    monkeypatch.setattr(serving, "install_stub_model", broken)
    server = serving.Server(_options(tiny_artifact, preprocess_instances=1))
    start = time.perf_counter()
    with pytest.raises(IJepaDeployError) as info:
        server.start()
    assert time.perf_counter() - start < 60
    assert "exited while loading the models" in info.value.problem
    assert "ijepa: Internal: RuntimeError: simulated load failure" in info.value.problem
