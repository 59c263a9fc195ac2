"""``pytest -m perf [--artifact DIR]``: every graph and engine of an artifact against eager PyTorch
on the same device, in paired rounds on real photos, within the limits of ijepa_deploy.benchmarks.latency_limits.LIMITS.

CPU: ONNX Runtime's CPU graphs and OpenVINO's precisions against eager on the CPU. GPU: TensorRT engines and ONNX Runtime's
GPU providers against eager on the same GPU (fp32; fp16 against eager under fp16 autocast; the
int8 engine against the fp16 engine). A limit whose graph/engine/device this host or artifact
lacks is skipped with the reason."""

from __future__ import annotations

import contextlib

import numpy as np
import pytest

from ijepa_deploy.benchmarks.latency_limits import BATCHES, LIMITS, Limit, check, measure

CPU_LIMITS = [lim for lim in LIMITS if lim.device == "cpu"]
GPU_LIMITS = [lim for lim in LIMITS if lim.device == "cuda"]


def photos(manifest, count: int) -> np.ndarray:
    from ijepa_deploy.runtime.photos import photo_batch
    from ijepa_deploy.runtime.preprocess import Preprocessor

    return photo_batch(Preprocessor(manifest.preprocessing), count)[0]


def eager_fn(loaded, manifest, device: str = "cpu", fp16_autocast: bool = False):
    """Eager PyTorch as a user runs it on ``device``: numpy in, numpy out (so copies count on both sides)."""
    import torch

    model = loaded.model.to(device).eval()
    interpolate = manifest.io.inputs[0].shape[2] != loaded.info["image_size"]
    feature = manifest.task == "feature-extraction"

    def run(pixels: np.ndarray):
        x = torch.from_numpy(pixels).to(device)
        autocast = torch.autocast("cuda", dtype=torch.float16) if fp16_autocast else contextlib.nullcontext()
        with torch.inference_mode(), autocast:
            out = model(pixel_values=x, interpolate_pos_encoding=interpolate)
            value = out.last_hidden_state.mean(dim=1) if feature else out.logits
        return value.float().cpu().numpy()

    return run


def check_latency(limit: Limit, manifest, baseline, candidate, record_ratio) -> None:
    pixels = photos(manifest, max(BATCHES))
    results = {}
    for n in (n for n in BATCHES if n <= manifest.batch.max):
        batch = np.ascontiguousarray(pixels[:n])
        results[n] = measure(limit, lambda b=batch: baseline(b), lambda b=batch: candidate(b))
    check(limit, results, report=record_ratio)


@pytest.mark.perf
@pytest.mark.parametrize("limit", CPU_LIMITS, ids=lambda lim: lim.name)
def test_cpu_graph_latency_vs_eager(limit, perf_artifact, perf_manifest, perf_eager, record_ratio):
    with _cpu_runner(perf_artifact, perf_manifest, limit) as runner:
        check_latency(limit, perf_manifest, eager_fn(perf_eager, perf_manifest), runner.run, record_ratio)


def _cpu_runner(directory, manifest, limit: Limit):
    from ijepa_deploy.runtime.model import open_runner, parity_passed

    if limit.backend == "openvino":
        from ijepa_deploy.runtime.openvino_runner import cpu_supports_bf16, openvino_status

        available, reason = openvino_status()
        if not available:
            pytest.skip(f"OpenVINO rows need openvino: {reason}")
        if limit.variant == "bf16" and not cpu_supports_bf16():
            pytest.skip("this CPU has no native bf16 (AVX512_BF16 or AMX)")
        if limit.variant == "bf16" and not parity_passed(manifest, "fp32", "bf16", "openvino"):
            pytest.skip("the artifact has no passed OpenVINO bf16 parity row (export with openvino installed)")
        return open_runner(directory, manifest, "openvino", limit.variant)
    if limit.variant not in manifest.graphs:
        pytest.skip(f"artifact has no {limit.variant} graph")
    return open_runner(directory, manifest, "onnxruntime", limit.variant, providers=["CPUExecutionProvider"])


@pytest.fixture(scope="module")
def cuda_host():
    import torch

    if not torch.cuda.is_available():
        pytest.skip("GPU latency tests need an NVIDIA GPU and a CUDA build of torch")


def _gpu_candidate(stack: contextlib.ExitStack, directory, manifest, backend: str, variant: str):
    from ijepa_deploy.runtime.model import open_runner
    from ijepa_deploy.runtime.tensorrt_runner import tensorrt_status

    if backend == "tensorrt":
        available, reason = tensorrt_status()
        if not available:
            pytest.skip(f"TensorRT engines need TensorRT and a GPU: {reason}")
        if variant not in manifest.engines:
            pytest.skip(f"artifact has no {variant} engine (ijepa-build {directory} --variant {variant})")
        return stack.enter_context(open_runner(directory, manifest, "tensorrt", variant)).run
    import onnxruntime as ort

    provider = {"onnxruntime-cuda": "CUDAExecutionProvider", "onnxruntime-tensorrt": "TensorrtExecutionProvider"}[backend]
    if provider not in ort.get_available_providers():
        pytest.skip(f"onnxruntime has no {provider} (pip install onnxruntime-gpu)")
    if variant not in manifest.graphs:
        pytest.skip(f"artifact has no {variant} graph")
    runner = stack.enter_context(open_runner(directory, manifest, "onnxruntime", variant,
                                             providers=[provider, "CPUExecutionProvider"]))
    if runner.backend != backend:
        pytest.fail(f"ONNX Runtime fell back from {provider} to {runner.backend}")
    return runner.run


@pytest.mark.perf
@pytest.mark.gpu
@pytest.mark.parametrize("limit", GPU_LIMITS, ids=lambda lim: lim.name)
def test_gpu_latency_vs_eager_on_the_same_gpu(limit, cuda_host, perf_artifact, perf_manifest, perf_eager,
                                              record_ratio):
    with contextlib.ExitStack() as stack:
        candidate = _gpu_candidate(stack, perf_artifact, perf_manifest, limit.backend, limit.variant)
        if limit.baseline == "tensorrt fp16":
            baseline = _gpu_candidate(stack, perf_artifact, perf_manifest, "tensorrt", "fp16")
        else:
            baseline = eager_fn(perf_eager, perf_manifest, "cuda", fp16_autocast=limit.baseline == "eager-fp16")
        check_latency(limit, perf_manifest, baseline, candidate, record_ratio)
