"""ijepa-serve start-up: no endpoint says ready before the models answer; starts do not fail.

Every start is polled from its first moment (server readiness over HTTP and gRPC, both models'
readiness over HTTP). A start
of the tiny artifact takes ~3-7 s and a stop ~10 s here (2 cores), so the default run loops 3
starts; the 20 starts of issue 18 are marked slow.
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
    return client.infer("ijepa", [images_input([encoded_image(7)])], client_timeout=60).as_numpy("embedding").shape == (
        1,
        1,
        192,
    )


def _polled_start(server) -> tuple[list, list[bool], float]:
    """server.start() while every endpoint a probe would use is polled, from before the start until
    the server-level endpoint says ready; the first time it does, a real request must be answered.
    Returns the samples (time, HTTP server status, HTTP model statuses, the same two over gRPC),
    that request's outcome, and the start's seconds."""
    import tritonclient.grpc as grpcclient

    port = server.opts.http_port
    samples: list[tuple] = []
    first_ready_infer: list[bool] = []
    started = threading.Event()

    def grpc_statuses() -> tuple:
        """(server ready, (model ready, ...)) over gRPC, as HTTP-like statuses (None: not listening).
        A fresh channel with its own subchannel each time: a gRPC channel refused once backs off
        (and would share that backoff with every client of the same target in this process)."""
        client = grpcclient.InferenceServerClient(
            server.urls()["grpc"], channel_args=[("grpc.use_local_subchannel_pool", 1)]
        )
        try:
            health = 200 if client.is_server_ready(client_timeout=1) else 400
            return health, tuple(200 if client.is_model_ready(m, client_timeout=1) else 400 for m in MODELS)
        except Exception:  # not listening yet
            return None, (None, None)
        finally:
            client.close()

    def poll():
        while not started.is_set() or len(samples) < 3 or samples[-1][1] != 200:
            # per protocol, the server level first, then the models: models only get readier
            health = _status(port, "/v2/health/ready")
            models = tuple(_status(port, f"/v2/models/{m}/ready") for m in MODELS)
            samples.append((time.monotonic(), health, models, *grpc_statuses()))
            if 200 in (health, samples[-1][3]) and not first_ready_infer:
                try:
                    first_ready_infer.append(_infer_ok(server))
                except Exception as exc:  # recorded here, asserted by the caller
                    first_ready_infer.append(False)
                    samples.append((time.monotonic(), f"infer failed: {exc}", (), None, ()))
            time.sleep(0.01)

    poller = threading.Thread(target=poll, daemon=True)
    t0 = time.perf_counter()
    poller.start()
    try:
        server.start()
        seconds = time.perf_counter() - t0
    finally:
        started.set()
    poller.join(60)
    return samples, first_ready_infer, seconds


def _start_stop_loop(artifact, starts: int) -> None:
    """Starts and stops in a row, each polled from its first moment: every start serves, and no
    endpoint says ready while a model does not (issue 18, items 4 and 5)."""
    from ijepa_deploy.errors import IJepaDeployError
    from ijepa_deploy.runtime.serving.server import Server

    failures, timings, polls = [], [], 0
    for i in range(starts):
        server = Server(_options(artifact, preprocess_instances=4))  # 4 instances: the racy handshake
        try:
            samples, first_infer, seconds = _polled_start(server)
            timings.append(seconds)
            polls += len(samples)
            early = [s for s in samples if (s[1] == 200 and s[2] != (200, 200)) or (s[3] == 200 and s[4] != (200, 200))]
            before = [s for s in samples if s[1] != 200 and s[3] != 200]
            if early:
                failures.append(f"start {i}: server ready while a model was not: {early[:3]}")
            if len(before) < 10:
                failures.append(f"start {i}: polling did not catch the start-up ({len(before)} samples)")
            if first_infer != [True]:
                failures.append(
                    f"start {i}: the first request after ready failed: "
                    f"{[s for s in samples if isinstance(s[1], str)] or samples[-3:]}"
                )
            if i == 0:
                time.sleep(2)  # still serving later (tritonserver's parent-death signal is per thread)
                if not (server.is_alive() and _infer_ok(server)):
                    failures.append(f"start {i}: not serving 2 s after the start")
        except IJepaDeployError as exc:
            failures.append(f"start {i}: {exc}")
        finally:
            server.stop()
    print(
        f"\n{starts} starts, {len(failures)} failures; start-to-ready {min(timings, default=0):.2f}-"
        f"{max(timings, default=0):.2f} s; {polls} endpoint polls"
    )
    assert not failures, "\n".join(failures)


def test_starts_in_a_row_all_serve_and_never_say_ready_early(tiny_artifact):
    _start_stop_loop(tiny_artifact, 3)


@pytest.mark.slow
def test_twenty_starts_in_a_row_all_serve_and_never_say_ready_early(tiny_artifact):
    _start_stop_loop(tiny_artifact, 20)


def test_a_model_that_does_not_load_fails_the_start_at_once(tiny_artifact, monkeypatch):
    """tritonserver exits at once when a model does not load; start() must say so within seconds,
    not after PyTriton's 120 s wait for the port."""
    from ijepa_deploy.errors import BackendError
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
    with pytest.raises(BackendError) as info:
        server.start()
    assert time.perf_counter() - start < 60
    assert "exited during start-up" in info.value.problem
    assert "ijepa: Internal: RuntimeError: simulated load failure" in info.value.problem


def test_a_port_in_use_fails_the_start_at_once_naming_it(tiny_artifact):
    import socket

    from ijepa_deploy.errors import BackendError
    from ijepa_deploy.runtime.serving.server import Server

    server = Server(_options(tiny_artifact, preprocess_instances=1))
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", server.opts.grpc_port))
        busy.listen()
        start = time.perf_counter()
        with pytest.raises(BackendError) as info:
            server.start()
    assert time.perf_counter() - start < 60
    assert (
        f"failed to start GRPC service: Unavailable - Socket '127.0.0.1:{server.opts.grpc_port}' already in use"
        in info.value.problem
        and "--grpc-port" in info.value.format()
    )
