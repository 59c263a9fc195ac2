"""The ViT-H / ViT-g path of the precision graphs: steps in child processes, external data, and
the checkpoint-sized run itself (minutes, GBs: pytest -m slow)."""

from __future__ import annotations

import resource
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from ijepa_deploy.errors import InputError
from ijepa_deploy.exporters import precision as prec
from ijepa_deploy.exporters.precision import onnx_files
from ijepa_deploy.manifest import read_manifest
from ijepa_deploy.runtime.photos import photo_batch
from ijepa_deploy.runtime.preprocess import Preprocessor


@pytest.mark.slow
def test_vith14_fp16_int8_parity(tmp_path):
    out = tmp_path / "vith14"
    script = Path(sys.executable).parent / "ijepa-export"
    proc = subprocess.run(
        [str(script), "--model", "random:vith14", "--fp16", "--int8", "--output", str(out), "--no-engines"],
        capture_output=True,
        text=True,
        timeout=7200,
    )
    peak_gib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024**2
    assert proc.returncode == 0, proc.stdout + proc.stderr
    manifest = read_manifest(out)
    assert manifest.status == "passed"
    by_graph = {r.graph: r for r in manifest.parity}
    assert by_graph["fp16"].outputs["embedding"].min_cosine >= 0.999
    assert by_graph["int8"].outputs["embedding"].min_cosine >= 0.99
    fp16_neighbours = by_graph["fp16"].retrieval
    assert fp16_neighbours is not None and fp16_neighbours.mean_overlap >= 0.9
    assert manifest.graphs["fp16"].data_files == []  # 1.26 GB fp16 fits one protobuf
    assert peak_gib <= 20.0, f"peak RSS {peak_gib:.1f} GiB"


def test_big_graph_steps_run_in_a_child_process(tiny_precision_artifact, tmp_path):
    """ViT-H/ViT-g precision steps run in spawned processes so their memory peaks do not add up."""
    out = tiny_precision_artifact
    files, job, peak = prec.run_step(prec.Fp16FromOnnx(out / "model.onnx", tmp_path), isolate=True)
    assert files == [tmp_path / "model_fp16.onnx"] and files[0].is_file()
    assert job.path_taken and 0 < peak < 4  # state and the child's own peak come back
    with pytest.raises(InputError, match="no calibration data"):
        prec.run_step(prec.Int8FromOnnx(out / "model.onnx", tmp_path), isolate=True)
    assert not prec.should_isolate(out / "model.onnx")  # tiny stays in-process


def test_graphs_with_external_data(tiny_precision_artifact, tmp_path, monkeypatch):
    """The ViT-H/ViT-g path on a tiny graph: fp32 weights in model.onnx.data, outputs over the
    threshold get ONE .data file, calibration leaves nothing behind in the artifact directory."""
    src_dir = tmp_path / "art"
    src_dir.mkdir()
    out = tiny_precision_artifact
    manifest = read_manifest(out)
    onnx.save_model(
        onnx.load(str(out / "model.onnx")),
        str(src_dir / "model.onnx"),
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location="model.onnx.data",
        size_threshold=1024,
    )
    monkeypatch.setattr(onnx_files, "EXTERNAL_DATA_THRESHOLD", 1_000_000)
    source, dest = src_dir / "model.onnx", tmp_path / "out"
    dest.mkdir()
    fp16 = prec.Fp16FromOnnx(source, dest)()
    assert [f.name for f in fp16] == ["model_fp16.onnx", "model_fp16.onnx.data"]
    workdir = src_dir / ".calib-test"
    workdir.mkdir()
    reader = prec.ImageCalibrationReader(prec.CalibrationImages(None, 2), Preprocessor(manifest.preprocessing), 1)
    calibration = prec.Calibrate(source, reader, "minmax", workdir)()
    assert calibration.prepared.parent == src_dir  # beside its data file: no hard link, no copy
    int8 = prec.Int8FromOnnx(source, dest, calibration=calibration)()
    prec.cleanup(workdir, source)
    assert sorted(p.name for p in src_dir.iterdir()) == ["model.onnx", "model.onnx.data"]
    pixels = photo_batch(Preprocessor(manifest.preprocessing), 2)[0]
    ref = ort.InferenceSession(str(source)).run(["embedding"], {"pixel_values": pixels})[0]
    for graph in (fp16[0], int8[0]):
        got = ort.InferenceSession(str(graph)).run(["embedding"], {"pixel_values": pixels})[0]
        cos = (ref * got).sum(1) / np.linalg.norm(ref, axis=1) / np.linalg.norm(got, axis=1)
        assert cos.min() > 0.99, graph.name
