"""INT8 calibration data: the streamed reader, --calib-dir sampling and the loud warning without it."""

from __future__ import annotations

import tracemalloc

import pytest

from ijepa_deploy.errors import InputError
from ijepa_deploy.exporters import precision as prec
from ijepa_deploy.manifest import read_manifest
from ijepa_deploy.runtime.preprocess import Preprocessor


def test_reader_streams_one_batch_at_a_time_and_respects_count(tiny_artifact):
    manifest = read_manifest(tiny_artifact)
    pre = Preprocessor(manifest.preprocessing)
    reader = prec.ImageCalibrationReader(prec.CalibrationImages(None, 10), pre, batch_size=3)
    sizes = [len(batch["pixel_values"]) for batch in reader]
    assert sizes == [3, 3, 3, 1] and len(reader) == 4
    assert reader.images_served == 10 and reader.batches_served == 4
    assert reader.max_batch_bytes == 3 * 3 * 224 * 224 * 4
    assert len(set(reader.names)) == 10  # distinct variants, not repeats
    reader.rewind()
    assert reader.get_next()["pixel_values"].shape == (3, 3, 224, 224)

    def peak(count):
        r = prec.ImageCalibrationReader(prec.CalibrationImages(None, count), pre, batch_size=2)
        tracemalloc.start()
        for _ in r:
            pass
        _, top = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return top

    small, large = peak(4), peak(24)
    assert large < small + 2 * 2 * 3 * 224 * 224 * 4, (small, large)  # does not grow with the count


def test_calib_dir_sampling_is_seeded_and_bounded(calib_dir):
    images = prec.CalibrationImages(calib_dir, 5)
    picked = images.paths()
    assert len(picked) == 5 and picked == prec.CalibrationImages(calib_dir, 5).paths()
    assert len(set(picked)) == 5
    assert images.warning() is None and images.describe()["representative"] is True
    assert len(prec.CalibrationImages(calib_dir, 100).paths()) == 12
    with pytest.raises(InputError, match="calib-count"):
        prec.CalibrationImages(calib_dir, 0)


def test_no_calib_dir_warns_loudly():
    images = prec.CalibrationImages(None, 64)
    with pytest.warns(UserWarning, match="NOT representative"):
        prec.warn_fallback(images, quiet=True)
    said = []
    text = prec.warn_fallback(images, say=said.append)
    assert "no --calib-dir" in text and said and said[0].startswith("!" * 20)
