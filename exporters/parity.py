"""Numerical parity of a candidate runner (ONNX Runtime, TensorRT) against eager PyTorch.

Both run the same preprocessed real photos. The reference runs once on the largest batch; the
candidate runs at every requested batch size (so batch-dependent kernels are covered) and each
output is compared per image: cosine similarity of the flattened output and max/mean absolute
error. Thresholds are per precision and per output; any miss fails the whole check.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from ijepa_deploy.errors import IJepaDeployError
from ijepa_deploy.records import BatchStats, OutputParity, ParityResult
from ijepa_deploy.runtime.runner import Runner

# (minimum cosine, maximum absolute error or None = reported, not gated)
THRESHOLDS: dict[str, dict[str, tuple[float, float | None]]] = {
    "fp32": {"embedding": (0.99999, 1e-3), "logits": (0.99999, 1e-3), "last_hidden_state": (0.9999, 1e-2)},
    "fp16": {"embedding": (0.999, 5e-2), "logits": (0.999, 5e-2), "last_hidden_state": (0.99, None)},
    "int8": {"embedding": (0.99, None), "logits": (0.99, None), "last_hidden_state": (0.95, None)},
    # OpenVINO's bf16 inference mode on the fp32 graph (8-bit mantissa activations, f32 accumulation).
    "bf16": {"embedding": (0.9999, None), "logits": (0.9999, None), "last_hidden_state": (0.999, None)},
}
DEFAULT_BATCH_SIZES = (1, 2, 5)
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")


def bundled_images() -> list[Path]:
    """The sample photos shipped with the package (scikit-image's CC0/public-domain photos)."""
    folder = resources.files("ijepa_deploy") / "assets"
    return sorted(Path(str(p)) for p in folder.iterdir() if p.name.endswith(".jpg"))


def images_in(directory: Path) -> list[Path]:
    directory = Path(directory)
    if not directory.is_dir():
        raise IJepaDeployError(str(directory), "not a directory", "a directory of image files")
    found = sorted(p for p in directory.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not found:
        raise IJepaDeployError(str(directory), "contains no image files", f"files ending in {IMAGE_SUFFIXES}")
    return found


def _crop(image, left: float, top: float, right: float, bottom: float):
    w, h = image.size
    return image.crop((int(w * left), int(h * top), int(w * right), int(h * bottom)))


def _variants():
    """Deterministic label-preserving variants: (suffix, transform). A parity batch uses the first
    few; calibration and the neighbour check go further down the list for distinct images."""
    from PIL import Image, ImageOps

    T = Image.Transpose
    return (
        ("", lambda im: im),
        (":mirror", ImageOps.mirror),
        (":rot90", lambda im: im.transpose(T.ROTATE_90)),
        (":crop", lambda im: _crop(im, 1 / 8, 1 / 8, 7 / 8, 7 / 8)),
        (":rot270", lambda im: im.transpose(T.ROTATE_270)),
        (":rot180", lambda im: im.transpose(T.ROTATE_180)),
        (":crop-tl", lambda im: _crop(im, 0, 0, 3 / 4, 3 / 4)),
        (":crop-br", lambda im: _crop(im, 1 / 4, 1 / 4, 1, 1)),
        (":mirror-rot90", lambda im: ImageOps.mirror(im).transpose(T.ROTATE_90)),
        (":crop-center", lambda im: _crop(im, 1 / 4, 1 / 4, 3 / 4, 3 / 4)),
        (":crop-tr", lambda im: _crop(im, 1 / 4, 0, 1, 3 / 4)),
        (":crop-bl", lambda im: _crop(im, 0, 1 / 4, 3 / 4, 1)),
        (":grey", lambda im: ImageOps.grayscale(im).convert("RGB")),
        (":autocontrast", ImageOps.autocontrast),
        (":mirror-crop", lambda im: ImageOps.mirror(_crop(im, 1 / 8, 1 / 8, 7 / 8, 7 / 8))),
        (":mirror-rot270", lambda im: ImageOps.mirror(im).transpose(T.ROTATE_270)),
    )


VARIANTS_PER_PHOTO = 16


def photo_variant(paths: list[Path], i: int):
    """The ``i``-th image of the endless deterministic sequence over ``paths``: every photo as
    is, then every photo mirrored, rotated, cropped, ... (``VARIANTS_PER_PHOTO`` kinds, then the
    sequence repeats). Returns ``(PIL RGB image, name)``."""
    from ijepa_deploy.runtime.preprocess import open_image

    path = paths[i % len(paths)]
    variant = (i // len(paths)) % VARIANTS_PER_PHOTO
    suffix, transform = _variants()[variant]
    return transform(open_image(path).convert("RGB")), path.name + suffix


def photo_batch(preprocess, count: int, paths: list[Path] | None = None) -> tuple[np.ndarray, list[str]]:
    """``count`` preprocessed photos. When fewer files than ``count`` are given, the extra ones
    are mirrored / rotated / cropped versions so every row of the batch is a distinct image
    (up to ``VARIANTS_PER_PHOTO`` times the number of files)."""
    paths = list(paths or bundled_images())
    images, names = [], []
    for i in range(count):
        image, name = photo_variant(paths, i)
        images.append(image)
        names.append(name)
    return preprocess(images), names


def compare_outputs(ref: np.ndarray, got: np.ndarray) -> dict:
    """Per-image cosine of the flattened outputs (min and mean over the batch) and abs error."""
    ref64 = ref.reshape(len(ref), -1).astype(np.float64)
    got64 = got.reshape(len(got), -1).astype(np.float64)
    denom = np.linalg.norm(ref64, axis=1) * np.linalg.norm(got64, axis=1)
    cos = np.where(denom > 0, (ref64 * got64).sum(axis=1) / np.maximum(denom, 1e-300), 0.0)
    diff = np.abs(ref64 - got64)
    finite = bool(np.isfinite(got64).all())
    return {
        "min_cosine": float(cos.min()) if finite else float("nan"),
        "mean_cosine": float(cos.mean()) if finite else float("nan"),
        "max_abs": float(diff.max()) if finite else float("inf"),
        "mean_abs": float(diff.mean()) if finite else float("inf"),
        "finite": finite,
    }


@dataclass
class ParityCheck:
    """Compare ``candidate`` against ``reference`` on ``pixels`` at ``batch_sizes``."""

    reference: Runner
    candidate: Runner
    precision: str = "fp32"
    batch_sizes: tuple[int, ...] = DEFAULT_BATCH_SIZES
    reference_outputs: dict | None = None

    def __call__(self, pixels: np.ndarray, image_names: list[str], graph: str, progress=None) -> ParityResult:
        if max(self.batch_sizes) > len(pixels):
            raise IJepaDeployError("parity", f"batch size {max(self.batch_sizes)} but {len(pixels)} images",
                                   "at least as many images as the largest batch")
        thresholds = THRESHOLDS[self.precision]
        if self.reference_outputs is None:
            self.reference_outputs = self.reference.run(pixels[: max(self.batch_sizes)])
        ref = self.reference_outputs
        per_batch: dict[str, dict[str, BatchStats]] = {}
        worst: dict[str, dict] = {}
        for n in self.batch_sizes:
            if progress:
                progress(f"{self.candidate.backend} {graph} batch {n}")
            got = self.candidate.run(pixels[:n])
            per_batch[str(n)] = {}
            for name in ref:
                stats = compare_outputs(ref[name][:n], got[name])
                per_batch[str(n)][name] = BatchStats(min_cosine=stats["min_cosine"], max_abs=stats["max_abs"])
                w = worst.setdefault(name, dict(stats))
                w["min_cosine"] = min(w["min_cosine"], stats["min_cosine"]) if stats["finite"] else float("nan")
                w["max_abs"] = max(w["max_abs"], stats["max_abs"])
                w["finite"] = w["finite"] and stats["finite"]
        outputs = {}
        for name, stats in worst.items():
            min_cos, max_abs = thresholds.get(name, (0.99, None))
            ok = stats["finite"] and stats["min_cosine"] >= min_cos and (max_abs is None or stats["max_abs"] <= max_abs)
            outputs[name] = OutputParity(min_cosine=stats["min_cosine"], max_abs=stats["max_abs"],
                                         mean_abs=stats["mean_abs"], cosine_threshold=min_cos,
                                         max_abs_threshold=max_abs, passed=bool(ok))
        return ParityResult(
            graph=graph, precision=self.precision, backend=self.candidate.backend,
            reference=self.reference.backend, images=list(image_names[: max(self.batch_sizes)]),
            batch_sizes=list(self.batch_sizes), outputs=outputs, per_batch=per_batch,
            passed=all(o.passed for o in outputs.values()),
        )
