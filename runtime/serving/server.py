"""``ijepa-serve``: one artifact behind NVIDIA Triton Inference Server, through PyTriton.

PyTriton starts the ``tritonserver`` it bundles and binds Python callables as models; Triton
does the HTTP/gRPC endpoints, dynamic batching, queue bounds, health, readiness and Prometheus
metrics. The model is opened with :func:`ijepa_deploy.runtime.load` exactly as a user would, with
the backend and precision passed through unchanged.
"""

from __future__ import annotations

import atexit
import logging
import os
import re
import shutil
import signal
import sys
import threading
from pathlib import Path

import numpy as np

from ijepa_deploy.errors import BackendError, BackendUnavailable, IJepaDeployError
from ijepa_deploy.manifest import read_manifest
from ijepa_deploy.runtime import RunnerOptions, load
from ijepa_deploy.runtime.model import check_verified
from ijepa_deploy.runtime.serving.libpython import apply_libpython_fix
from ijepa_deploy.runtime.serving.models import (
    IMAGES_INPUT,
    PIXELS_INPUT,
    BadRequest,
    ImagesModel,
    PixelsForwarder,
    Unavailable,
    pixels_callable,
)
from ijepa_deploy.runtime.serving.options import ServeOptions

STUB_MODEL = Path(__file__).with_name("triton_stub_model.py")
INSTALL_HINT = "nvidia-pytriton and tritonclient (pip install 'ijepa-deploy[serve]'; needs numpy<2)"


def import_pytriton():
    try:
        import pytriton.triton  # noqa: F401
        import tritonclient.grpc  # noqa: F401
    except ImportError as exc:
        raise BackendUnavailable(
            "ijepa-serve", f"Triton's Python packages are not installed ({exc})", INSTALL_HINT
        ) from None


def _queue_policy(opts: ServeOptions):
    from pytriton.model_config import QueuePolicy, TimeoutAction

    return QueuePolicy(
        timeout_action=TimeoutAction.REJECT,
        max_queue_size=opts.max_queue,
        default_timeout_microseconds=opts.queue_timeout_ms * 1000,
    )


def pixels_config(opts: ServeOptions):
    from pytriton.model_config import DynamicBatcher, ModelConfig

    return ModelConfig(
        max_batch_size=opts.max_batch,
        batcher=DynamicBatcher(
            max_queue_delay_microseconds=opts.max_queue_delay_us,
            preferred_batch_size=list(opts.preferred_batch_sizes) or None,
            default_queue_policy=_queue_policy(opts),
        ),
    )


def images_config(opts: ServeOptions):
    """max_batch_size 1: one request per call (errors stay with their client), queue still bounded."""
    from pytriton.model_config import DynamicBatcher, ModelConfig

    return ModelConfig(max_batch_size=1, batcher=DynamicBatcher(default_queue_policy=_queue_policy(opts)))


def install_stub_model(model_store: Path, model_name: str) -> None:
    """Put triton_stub_model.py in front of PyTriton's proxy ``model.py`` of one bound model.

    The files are in the local model store from ``bind()`` on (PyTriton's local-model-store policy),
    before tritonserver starts and loads them."""
    for version in sorted(p for p in (model_store / model_name).iterdir() if p.is_dir()):
        proxy = version / "model.py"
        if not proxy.is_file():
            raise BackendUnavailable(
                str(version),
                "PyTriton wrote no model.py there",
                "PyTriton 0.7's model layout (nvidia-pytriton>=0.7,<0.8)",
            )
        proxy.rename(version / "pytriton_model.py")
        shutil.copyfile(STUB_MODEL, proxy)


class RefusedRequestLog(logging.Filter):
    """PyTriton logs every exception of a bound callable as a warning with its traceback. A refused
    request is the client's error: logged as one INFO line instead (server faults keep theirs)."""

    MARKERS = tuple(f"{cls.__module__}.{cls.__qualname__}: " for cls in (BadRequest, Unavailable))

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        for marker in self.MARKERS:
            if marker in text:
                record.msg, record.args = "refused request: %s", (text.rsplit(marker, 1)[1].strip(),)
                record.levelno, record.levelname = logging.INFO, "INFO"
                break
        return True


PYTRITON_INFERENCE_LOGGER = "pytriton.proxy.inference"


def _exited(triton) -> bool:
    """Whether PyTriton's tritonserver process was started and has exited (PyTriton 0.7 internals,
    read defensively: without them this says False and start-up falls back to PyTriton's timeout).
    By pid, not ``is_alive()``: that stays True while PyTriton's exit callback waits for a lock."""
    server = getattr(triton, "_triton_server", None)
    pid = getattr(getattr(server, "_tritonserver_running_cmd", None), "pid", None)
    if not isinstance(pid, int):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"  # exited, not reaped
    except (OSError, IndexError):
        return False


def _load_failure(triton) -> str:
    """Why tritonserver exited, from its log, as one line: each model's load error (first line) or
    the service that did not start (a port in use)."""
    server = getattr(triton, "_triton_server", None)
    logs = server.logs() if server is not None and hasattr(server, "logs") else ""
    reasons = [
        f"{m.group(1)}: {m.group(2).split(chr(92) + 'n')[0].strip()}"
        for m in re.finditer(r"failed to load '([^']+)' version \d+: ([^\n\"]*)", logs)
    ]
    reasons += [" ".join(m.group(1).split()) for m in re.finditer(r'"(failed to start [^"\n]*)"', logs)]
    text = "; ".join(dict.fromkeys(reasons)) or "no reason in its log"
    return text if len(text) <= 400 else text[:400] + "..."


def run_until_ready(triton, poll_s: float = 0.1) -> threading.Event:
    """``triton.run()``, but fail as soon as tritonserver exits during start-up.

    With the models loaded at start-up, a model that does not load makes tritonserver exit at once,
    while PyTriton keeps polling its port for 120 s (holding the lock its own stop() needs). Here
    the start runs in a thread; when the process is gone this raises, PyTriton's clean-up continues
    in the background and its exit hook is dropped (it would block interpreter exit on that lock).
    PyTriton starts tritonserver with a parent-death signal, which Linux ties to the starting
    *thread*: the thread stays until the returned event is set (after ``triton.stop()``)."""
    errors: list[Exception] = []
    ready, release = threading.Event(), threading.Event()

    def run():
        try:
            triton.run()
        except Exception as exc:  # handed to the caller below
            errors.append(exc)
            return
        ready.set()
        release.wait()

    thread = threading.Thread(target=run, name="tritonserver-start", daemon=True)
    thread.start()
    while not ready.is_set() and thread.is_alive():
        thread.join(poll_s)
        if not ready.is_set() and thread.is_alive() and _exited(triton):
            atexit.unregister(triton.stop)
            threading.Thread(target=triton.stop, name="tritonserver-cleanup", daemon=True).start()
            raise BackendError(
                "tritonserver",
                f"exited during start-up ({_load_failure(triton)})",
                "free ports (--http-port/--grpc-port/--metrics-port) and models that load "
                "(run with --verbose to see tritonserver's whole log)",
            )
    if errors:
        raise errors[0]
    return release


def triton_config(opts: ServeOptions):
    from pytriton.triton import TritonConfig

    return TritonConfig(
        http_address=opts.address,
        http_port=opts.http_port,
        grpc_address=opts.address,
        grpc_port=opts.grpc_port,
        metrics_address=opts.address,
        metrics_port=opts.metrics_port,
        allow_gpu_metrics=False,
        exit_timeout_secs=opts.exit_timeout_s,
        exit_on_error=True,
        log_verbose=1 if opts.verbose else 0,
    )


class Server:
    """Binds both models into a PyTriton ``Triton``; ``start()`` returns once they are ready.

    Readiness: PyTriton's default starts tritonserver with an empty repository and loads the models
    afterwards, so ``/v2/health/ready`` answers 200 before any model can. Here the models are written
    to a local model store at ``bind()`` and tritonserver loads them at start-up, before it opens its
    HTTP, gRPC and metrics ports: nothing listens until the models are loaded, and a request that
    arrives before PyTriton's handlers attach waits for them instead of failing."""

    def __init__(self, opts: ServeOptions):
        import_pytriton()
        manifest = read_manifest(opts.artifact)
        opts.check(manifest.batch.max)
        self.opts = opts
        # load()'s own gates, checked here first so a refusal names the command's flag
        self.unverified = check_verified(
            opts.artifact,
            manifest,
            opts.backend,
            opts.precision,
            allow_unverified=opts.allow_unverified,
            how_to_allow="--allow-unverified",
        )
        options = RunnerOptions(allow_engine_host_code=opts.allow_engine_host_code)
        self.models = [
            load(
                opts.artifact,
                backend=opts.backend,
                precision=opts.precision,
                allow_unverified=opts.allow_unverified,
                options=options,
            )
            for _ in range(opts.instances)
        ]
        self.spec = self.models[0].runner.spec
        self.forwarder = PixelsForwarder(
            f"{opts.client_host}:{opts.grpc_port}", opts.pixels_name, self.spec.output_names, self.models[0]
        )
        self.triton = None
        self._release: threading.Event | None = None

    def _bind(self, triton) -> None:
        from pytriton.model_config import Tensor

        opts, spec = self.opts, self.spec
        pixel_spec = spec.inputs[0]
        outputs = [Tensor(name=t.name, dtype=np.dtype(t.dtype).type, shape=tuple(t.shape[1:])) for t in spec.outputs]
        triton.bind(
            model_name=opts.pixels_name,
            infer_func=[pixels_callable(m) for m in self.models],
            inputs=[Tensor(name=PIXELS_INPUT, dtype=np.float32, shape=tuple(pixel_spec.shape[1:]))],
            outputs=outputs,
            config=pixels_config(opts),
            strict=False,
        )
        preprocess = self.models[0].preprocess
        assert opts.max_images is not None  # ServeOptions.check() filled it in
        images_outputs = [Tensor(name=t.name, dtype=t.dtype, shape=(-1, *t.shape)) for t in outputs]
        triton.bind(
            model_name=opts.name,
            infer_func=[
                ImagesModel(preprocess, self.forwarder, opts.max_images, opts.max_image_bytes)
                for _ in range(opts.preprocess_instances)
            ],
            inputs=[Tensor(name=IMAGES_INPUT, dtype=np.object_, shape=(-1,))],
            outputs=images_outputs,
            config=images_config(opts),
            strict=False,
        )

    def start(self) -> None:
        from PIL import Image
        from pytriton.triton import Triton, TritonLifecyclePolicy
        from pytriton.utils.workspace import Workspace

        if self.opts.max_image_pixels is not None:
            Image.MAX_IMAGE_PIXELS = self.opts.max_image_pixels
        apply_libpython_fix()
        log = logging.getLogger(PYTRITON_INFERENCE_LOGGER)
        if not any(isinstance(f, RefusedRequestLog) for f in log.filters):
            log.addFilter(RefusedRequestLog())
        workspace = Workspace()
        policy = TritonLifecyclePolicy(launch_triton_on_startup=True, local_model_store=True)
        triton = self.triton = Triton(
            config=triton_config(self.opts), workspace=workspace, triton_lifecycle_policy=policy
        )
        self._bind(triton)
        for name in (self.opts.pixels_name, self.opts.name):
            install_stub_model(workspace.model_store_path, name)
        try:
            self._release = run_until_ready(triton)
        except IJepaDeployError:
            self.triton = None  # already being stopped in the background
            self.stop()
            raise
        except Exception as exc:  # PyTriton raises plain exceptions (timeouts, bind failures)
            self.stop()
            raise BackendError(
                "tritonserver",
                f"did not become ready ({type(exc).__name__}: {exc})",
                "free ports (--http-port/--grpc-port/--metrics-port) and a working "
                "tritonserver (run with --verbose to see its log)",
            ) from None

    def is_alive(self) -> bool:
        return self.triton is not None and self.triton.is_alive()

    def stop(self) -> None:
        """Graceful: Triton stops taking requests and waits (up to the exit timeout) for in-flight ones."""
        self.forwarder.stopping.set()
        if self.triton is not None:
            self.triton.stop()
            self.triton = None
        if self._release is not None:
            self._release.set()  # the thread that started tritonserver may end now
            self._release = None
        for model in self.models:
            model.close()

    def urls(self) -> dict[str, str]:
        host = self.opts.client_host
        return {
            "http": f"http://{host}:{self.opts.http_port}",
            "grpc": f"{host}:{self.opts.grpc_port}",
            "metrics": f"http://{host}:{self.opts.metrics_port}/metrics",
            "ready": f"http://{host}:{self.opts.http_port}/v2/health/ready",
            "live": f"http://{host}:{self.opts.http_port}/v2/health/live",
        }


def serve(opts: ServeOptions, out=sys.stderr) -> int:
    """Run until SIGTERM/SIGINT; then finish in-flight requests and exit 0."""
    server = Server(opts)
    for problem in server.unverified:
        print(f"WARNING: serving an UNVERIFIED model (--allow-unverified): {problem}", file=out, flush=True)
    stop = threading.Event()
    received: list[str] = []

    def on_signal(signum, _frame):
        received.append(signal.Signals(signum).name)
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        server.start()
        urls = server.urls()
        print(
            f"serving {opts.artifact} as {opts.name!r} (encoded images) and {opts.pixels_name!r} "
            f"(pixel_values), backend {opts.backend}, precision {opts.precision}, max batch {opts.max_batch}"
            + (" [UNVERIFIED]" if server.unverified else ""),
            file=out,
        )
        for key, url in urls.items():
            print(f"  {key:8s}{url}", file=out)
        print("ready", file=out, flush=True)
        while not stop.wait(1.0):
            if not server.is_alive():
                raise BackendError(
                    "tritonserver", "exited unexpectedly", "a running server (run with --verbose to see its log)"
                )
        print(f"{received[0]}: finishing in-flight requests (up to {opts.exit_timeout_s} s)", file=out, flush=True)
    finally:
        server.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print("stopped", file=out, flush=True)
    return 0
