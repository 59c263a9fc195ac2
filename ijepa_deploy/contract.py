"""The preprocessing contract, stored with every artifact (cf. timm's ``PretrainedCfg``).

It reproduces what the checkpoint's ``ViTImageProcessor`` does (PIL path): convert to RGB
(transparency composited onto white), resize to (height, width) with the named Pillow filter,
rescale by ``rescale_factor`` in float64 then cast to float32, normalise with mean/std, CHW.
The runtime (numpy + Pillow), the C++ client and the exporter's parity check all read this one
record, so an engine is never fed pixels prepared differently from the ones it was checked on.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ijepa_deploy.errors import ArtifactError, InputError

# Pillow's resampling filter numbers, as transformers stores them in preprocessor_config.json.
RESAMPLE_NAMES = {0: "nearest", 1: "lanczos", 2: "bilinear", 3: "bicubic", 4: "box", 5: "hamming"}

# I-JEPA checkpoints on the hub normalise with mean = std = 0.5. The original facebookresearch/ijepa
# training code used ImageNet statistics; the HF conversion did not carry them over.
IJEPA_MEAN = (0.5, 0.5, 0.5)
CHANNEL_ORDERS = ("RGB",)
LAYOUTS = ("NCHW",)
IJEPA_STD = (0.5, 0.5, 0.5)


@dataclass(frozen=True)
class PreprocessConfig:
    height: int
    width: int
    resample: str = "bilinear"
    do_resize: bool = True
    do_rescale: bool = True
    rescale_factor: float = 1 / 255
    do_normalize: bool = True
    image_mean: tuple[float, ...] = IJEPA_MEAN
    image_std: tuple[float, ...] = IJEPA_STD
    convert_rgb: bool = True
    channel_order: str = "RGB"
    layout: str = "NCHW"
    source: str = "preset"
    notes: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self):
        # The runtime, the C++ client and the exported graphs all take RGB pixels in NCHW; the fields
        # are stored so a reader can check that, and any other value is refused rather than ignored.
        for name, allowed in (("channel_order", CHANNEL_ORDERS), ("layout", LAYOUTS)):
            if getattr(self, name) not in allowed:
                raise ArtifactError(
                    "preprocessing",
                    f"{name} {getattr(self, name)!r} is not supported",
                    f"one of {list(allowed)} (what the runtime produces)",
                )
        if self.resample not in RESAMPLE_NAMES.values():
            raise ArtifactError(
                "preprocessing",
                f"unknown resample filter {self.resample!r}",
                f"one of {sorted(RESAMPLE_NAMES.values())}",
            )
        if len(self.image_mean) != 3 or len(self.image_std) != 3:
            raise ArtifactError("preprocessing", "mean/std must have 3 values", "RGB statistics")

    @property
    def size(self) -> tuple[int, int]:
        return (self.height, self.width)

    def with_size(self, height: int, width: int) -> PreprocessConfig:
        data = self.to_dict()
        data.update(height=height, width=width)
        return PreprocessConfig.from_dict(data)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["image_mean"] = list(self.image_mean)
        data["image_std"] = list(self.image_std)
        data["notes"] = list(self.notes)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> PreprocessConfig:
        known = {f for f in cls.__dataclass_fields__}
        unknown = set(data) - known
        if unknown:
            raise ArtifactError("preprocessing", f"unknown fields {sorted(unknown)}", f"only {sorted(known)}")
        data = dict(data)
        for key in ("image_mean", "image_std", "notes"):
            if key in data:
                data[key] = tuple(data[key])
        return cls(**data)

    @classmethod
    def from_hf_processor_dict(cls, proc: dict, source: str) -> PreprocessConfig:
        """Read a transformers ``preprocessor_config.json`` (ViTImageProcessor keys)."""
        size = proc.get("size", {"height": 224, "width": 224})
        if isinstance(size, int):
            size = {"height": size, "width": size}
        if not ("height" in size and "width" in size):
            raise InputError(
                source,
                f"preprocessor size {size} is not a fixed height/width",
                "a ViTImageProcessor config with size {'height': H, 'width': W}",
            )
        if proc.get("do_center_crop"):
            raise InputError(
                source,
                "preprocessor uses a center crop, which the I-JEPA contract does not model",
                "do_center_crop false (as in the facebook/ijepa_* checkpoints)",
            )
        resample = proc.get("resample", 2)
        return cls(
            height=int(size["height"]),
            width=int(size["width"]),
            resample=RESAMPLE_NAMES.get(int(resample), "bilinear") if not isinstance(resample, str) else resample,
            do_resize=bool(proc.get("do_resize", True)),
            do_rescale=bool(proc.get("do_rescale", True)),
            rescale_factor=float(proc.get("rescale_factor", 1 / 255)),
            do_normalize=bool(proc.get("do_normalize", True)),
            image_mean=tuple(float(v) for v in proc.get("image_mean", IJEPA_MEAN)),
            image_std=tuple(float(v) for v in proc.get("image_std", IJEPA_STD)),
            convert_rgb=bool(proc.get("do_convert_rgb", True) if proc.get("do_convert_rgb") is not None else True),
            source=source,
        )

    @classmethod
    def from_pretrained_dir(cls, directory: Path, fallback_size: int) -> PreprocessConfig:
        path = Path(directory) / "preprocessor_config.json"
        if path.is_file():
            try:
                proc = json.loads(path.read_text())
            except json.JSONDecodeError as exc:
                raise InputError(str(path), f"not valid JSON ({exc})", "a transformers preprocessor config") from None
            return cls.from_hf_processor_dict(proc, source=str(path.name))
        return cls(height=fallback_size, width=fallback_size, source="default (no preprocessor_config.json)")
