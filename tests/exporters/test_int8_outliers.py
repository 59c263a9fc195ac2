"""INT8 on weights shaped like trained ViTs (random:<preset>+outliers: LayerNorm-output outlier
channels, heavy-tailed fc2 inputs, sharper attention): plain per-tensor INT8 fails on them, the
export's SmoothQuant transform keeps the fp32 function, and the target search meets 0.999 with
most GEMMs still INT8."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from ijepa_deploy.exporters import precision as prec
from ijepa_deploy.exporters.pipeline import ExportOptions, export_artifact
from ijepa_deploy.exporters.precision.gemms import find_gemms, load_structure, smoothing_groups
from ijepa_deploy.exporters.precision.int8 import quantize_s8s8, quantize_u8s8
from ijepa_deploy.exporters.precision.sensitivity import min_cosine
from ijepa_deploy.manifest import read_manifest
from ijepa_deploy.progress import Progress
from ijepa_deploy.runtime import load
from ijepa_deploy.runtime.acceptance.reference import ReferenceOutputs
from ijepa_deploy.runtime.preprocess import Preprocessor

PRESET = "random:tiny+outliers"


@pytest.fixture(scope="module")
def outlier_artifact(tmp_path_factory):
    out = tmp_path_factory.mktemp("outliers") / "tiny-outliers"
    with pytest.warns(UserWarning, match="no --calib-dir"):
        manifest = export_artifact(
            ExportOptions(model=PRESET, output=out, max_batch=8, int8=True, engines=False), Progress(quiet=True)
        )
    assert manifest.status == "passed", [(r.graph, r.backend, r.passed) for r in manifest.parity]
    return out


@pytest.fixture(scope="module")
def held_out(outlier_artifact):
    """The held-out parity photos and eager fp32's embeddings of them, from the saved reference."""
    manifest = read_manifest(outlier_artifact)
    reference = ReferenceOutputs.load(outlier_artifact / "reference_outputs.npz")
    count = reference.parity_images
    return reference.pixels(Preprocessor(manifest.preprocessing))[:count], reference.outputs["embedding"][:count]


def _embed(graph: Path, pixels: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(str(graph), providers=["CPUExecutionProvider"])
    return session.run(["embedding"], {"pixel_values": pixels})[0]


def _reader(manifest, count=16):
    images = prec.CalibrationImages(None, count, offset=24)  # what the export calibrates on
    return prec.ImageCalibrationReader(images, Preprocessor(manifest.preprocessing), 4)


@pytest.mark.parametrize("method", ["minmax", "percentile", "entropy"])
def test_plain_per_tensor_int8_fails_on_trained_like_weights(outlier_artifact, held_out, method):
    """Before this change, --int8 calibrated the fp32 graph and quantized every GEMM: below the old
    0.99 threshold on these weights whatever the calibration method."""
    manifest = read_manifest(outlier_artifact)
    pixels, reference = held_out
    with tempfile.TemporaryDirectory(dir=outlier_artifact, prefix=".calib-") as work:
        calibration = prec.calibrate(outlier_artifact / "model.onnx", _reader(manifest), method, Path(work))
        for quantize in (quantize_s8s8, quantize_u8s8):
            graph = quantize(calibration, Path(work) / f"{quantize.__name__}.onnx")[0]
            assert min_cosine(reference, _embed(graph, pixels)) < 0.99, (method, quantize.__name__)
        prec.cleanup(Path(work), outlier_artifact / "model.onnx")


def test_smoothing_keeps_the_fp32_function_and_flattens_the_outliers(outlier_artifact, held_out):
    manifest = read_manifest(outlier_artifact)
    pixels, _ = held_out
    source = outlier_artifact / "model.onnx"
    with tempfile.TemporaryDirectory(dir=outlier_artifact, prefix=".calib-") as work:
        reader = _reader(manifest, 8)
        smoothed = prec.SmoothedFromOnnx(source, reader, tokens=196, workdir=Path(work))()
        before, after = _embed(source, pixels), _embed(smoothed.graph, pixels)
        groups = smoothing_groups(load_structure(source), find_gemms(load_structure(source), 196))
        ratio = {}
        for name, graph in (("before", source), ("after", smoothed.graph)):
            stats = prec.smoothing.collect_stats(graph, Path(work), groups, reader)
            # the largest channel over the median channel of each LayerNorm output, worst group
            ratio[name] = max(float(a.max() / np.median(a)) for a, _ in stats.values())
        prec.cleanup(Path(work), source)
    np.testing.assert_allclose(after, before, rtol=1e-4, atol=1e-4)
    assert min_cosine(before, after) > 0.999999
    record = smoothed.record
    assert record["groups"] == 8 and record["groups_smoothed"] >= 6  # two LayerNorm groups per block
    assert all(c["error_after"] < c["error_before"] for c in record["choices"] if c["alpha"] is not None)
    assert ratio["before"] > 20 and ratio["after"] < ratio["before"] / 5, ratio


def test_the_export_meets_the_target_and_records_what_it_kept(outlier_artifact):
    manifest = read_manifest(outlier_artifact)
    int8 = manifest.graphs["int8"]
    target = int8.int8_target
    assert target["target_cosine"] == 0.999 and target["gemms"] == 33  # patch + 8 per block x 4
    assert target["int8_gemms"] == target["gemms"] - len(target["kept"]) >= target["gemms"] / 2
    assert 0.5 <= target["int8_flop_share"] <= 1.0
    assert len(target["sensitivity"]) == 33 and {s["gemm"] for s in target["sensitivity"]} >= {"patch", "block0.q"}
    chosen = [t for t in target["trials"] if t["kept"] == len(target["kept"])]
    assert target["trials"][0]["kept"] == 0 and chosen and chosen[-1]["min_cosine"] >= target["search_goal"]
    assert manifest.graphs["int8-cpu"].int8_target == target and int8.smoothing["groups_smoothed"] > 0
    for variant in ("int8", "int8-cpu"):
        rows = [r for r in manifest.parity if r.graph == variant]
        assert rows and all(r.passed and r.outputs["embedding"].cosine_threshold == 0.999 for r in rows)
        assert all(r.outputs["embedding"].min_cosine >= 0.999 for r in rows)


def test_int8_holds_on_photos_neither_calibration_nor_parity(outlier_artifact):
    """Photos no step of the export saw (scikit-image's), on ONNX Runtime's int8-cpu graph and (on
    CPUs with int8 dot products) OpenVINO's int8 graph: cosine >= 0.998. Two of scikit-image's
    non-photos stay just under it on this preset (a gravel texture 0.9977, a scan of printed text
    0.9982; benchmarks/README.md), so they are not in this set."""
    skimage_data = pytest.importorskip("skimage.data")
    from ijepa_deploy.runtime.cpu_features import int8_dot_product
    from ijepa_deploy.runtime.openvino_runner import openvino_status

    left, right, _ = skimage_data.stereo_motorcycle()
    photos = [left, right] + [getattr(skimage_data, name)() for name in ("clock", "cell", "moon", "brick", "grass")]
    with load(outlier_artifact) as fp32:
        reference = fp32.embed(photos)
    backends = [("onnxruntime", {"providers": ["CPUExecutionProvider"]})]
    if openvino_status()[0] and int8_dot_product():
        backends.append(("openvino", {}))
    for backend, options in backends:
        with load(outlier_artifact, backend=backend, precision="int8", **options) as model:
            assert min_cosine(reference, model.embed(photos)) >= 0.998, backend


class TableSearch(prec.Int8Search):
    """The search's decisions without quantizing anything: the cosine a trial would measure is read
    from ``table`` (number of GEMMs kept -> min cosine)."""

    def __init__(self, table, target=0.999):
        super().__init__(
            Path("unused.onnx"),
            None,
            np.zeros((1, 3, 2, 2), np.float32),
            ["a"],
            np.zeros((1, 2)),
            "embedding",
            4,
            target,
        )
        self.table = table

    def _measure(self, exclude, tag):
        cos = self.table(len(exclude))
        self.trials.append({"kept": len(exclude), "min_cosine": cos})
        return cos


def _gemms(count):
    from ijepa_deploy.exporters.precision.gemms import Gemm

    return [Gemm(f"n{i}", "MatMul", "fc2", i, 100, "w") for i in range(count)]


def test_the_search_keeps_the_fewest_gemms_that_meet_the_goal():
    """Deficits add up: keeping the k most sensitive of 20 GEMMs (deficits 1e-3, 5e-4, ...) leaves
    their sum; the search finds the smallest k under the goal in a few trials."""
    deficits = [1e-3 / (i + 1) for i in range(20)]

    def measured(k):
        return 1 - sum(deficits[k:])

    search = TableSearch(measured)
    kept = search._search(_gemms(20), deficits, goal=1 - 0.8 * 1e-3)
    fewest = next(k for k in range(21) if measured(k) >= 1 - 0.8 * 1e-3)
    assert len(kept) == fewest and kept == [f"n{i}" for i in range(fewest)]
    assert len(search.trials) <= 3  # all INT8, the predicted count, one less


def test_no_int8_placement_meeting_the_target_is_a_clear_error():
    """A target no INT8 placement reaches: a user error naming every trial."""
    from ijepa_deploy.errors import ParityError

    search = TableSearch(lambda k: 0.99 + 0.0001 * k, target=0.9999)
    with pytest.raises(ParityError) as err:
        search._search(_gemms(10), [1e-3] * 10, goal=0.99992)
    assert err.value.subject == "--int8-target-cosine"
    # keeping all ten would be no INT8 at all: the search says so after the one trial that showed it
    assert err.value.problem == "no INT8 placement reached 0.9999 (min cosine on the held-out photos, 0 kept: 0.990000)"
    assert "a lower --int8-target-cosine" in err.value.expected
