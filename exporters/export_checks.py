"""Export arguments that can be checked before the model is loaded: the opset the installed
exporter can write, an image size the model and this machine can take, a local checkpoint whose
safetensors files are whole. Each failure is one user error, found in seconds, not after the
export has run for minutes."""

from __future__ import annotations

import json
import os
from pathlib import Path

from ijepa_deploy.errors import InputError, first_line
from ijepa_deploy.exporters.models import ModelSource
from ijepa_deploy.exporters.onnx_export import MIN_OPSET

# Patches per side of the export resolution. 64 (4096 tokens) is 5x the largest checkpoint's grid
# (ViT-H/16 at 448 px: 28x28); attention cost grows with the square of the tokens.
MAX_PATCH_GRID = 64
# The smallest patch of any I-JEPA checkpoint (ViT-H/14): the bound while a hub checkpoint's config
# is not known yet (check_image_size runs again once it is).
SMALLEST_PATCH = 14


def max_opset() -> int:
    """Highest opset the installed exporter writes: torch's dynamo exporter converts its graph
    with onnxscript's version converter, whose supported range ends here (measured: 25 exports
    and runs, 26 fails in the ONNX checker after the export)."""
    import onnx

    try:
        from onnxscript.version_converter._version_converter import SUPPORTED_MAX_ONNX_OPSET as limit
    except ImportError:  # a layout we do not know: torch's own declared maximum
        from torch.onnx._constants import ONNX_MAX_OPSET as limit
    return min(int(limit), onnx.defs.onnx_opset_version())


def check_opset(opset: int) -> None:
    top = max_opset()
    if not MIN_OPSET <= opset <= top:
        raise InputError(
            "--opset",
            f"{opset} is outside what this export can write",
            f"{MIN_OPSET}..{top} (>= {MIN_OPSET} keeps LayerNormalization one op; "
            f"{top} is the installed exporter's maximum)",
        )


def peek_config(source: ModelSource) -> dict | None:
    """The architecture fields of a preset or a local checkpoint, without loading it (hub
    checkpoints: None, checked after loading)."""
    if source.kind == "preset":
        return source.preset.config_kwargs()
    if source.kind == "local":
        return json.loads((Path(source.spec) / "config.json").read_text())
    return None


def _ram_bytes() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def check_image_size(image_size: int | None, config: dict | None, batch: int) -> None:
    """``--image-size`` must be at least one patch, whole patches, at most MAX_PATCH_GRID per side,
    and its attention matrices at the largest parity batch must fit in half this machine's memory.
    With ``config`` None (a hub checkpoint before loading) only the first is checked."""
    if image_size is None:
        return
    patch = int(config.get("patch_size") or 16) if config else SMALLEST_PATCH
    if image_size < patch:
        raise InputError("--image-size", f"{image_size}", f"a resolution of at least one patch ({patch} px)")
    if config is None:
        return
    native = config.get("image_size") or 224
    native = int(native if isinstance(native, int) else native[0])
    if image_size % patch:
        raise InputError(
            "--image-size",
            f"{image_size} is not a multiple of the patch size {patch}",
            f"a multiple of {patch}, e.g. {native} or {native * 2}",
        )
    grid = image_size // patch
    if grid > MAX_PATCH_GRID:
        raise InputError(
            "--image-size",
            f"{image_size} px is {grid}x{grid} patches ({grid * grid} tokens)",
            f"at most {MAX_PATCH_GRID * patch} px ({MAX_PATCH_GRID} patches of {patch} px per side)",
        )
    heads = int(config.get("num_attention_heads") or 1)
    attention = batch * heads * (grid * grid + 1) ** 2 * 4  # one layer's fp32 scores, eager attention
    ram = _ram_bytes()
    if ram and attention > ram // 2:
        raise InputError(
            "--image-size",
            f"{image_size} px needs about {attention / 2**30:.1f} GiB per attention layer at batch {batch}",
            f"a size whose attention fits in half of "
            f"this machine's {ram / 2**30:.0f} GiB (smaller --image-size or --batch-sizes)",
        )


def check_checkpoint_files(source: ModelSource) -> None:
    """Every safetensors file of a local checkpoint has a readable header that its size covers
    (a truncated download fails here, before the model is built)."""
    if source.kind != "local":
        return
    from safetensors import SafetensorError, safe_open

    directory = Path(source.spec)
    files = sorted(directory.glob("*.safetensors"))
    if not files:
        raise InputError(
            f"--model {source.spec}",
            "no *.safetensors file in the directory",
            "config.json and model.safetensors written by save_pretrained",
        )
    shapes: dict[str, list[int]] = {}
    for path in files:
        try:
            with safe_open(str(path), framework="numpy") as fh:
                shapes.update({key: fh.get_slice(key).get_shape() for key in fh.keys()})
        except SafetensorError as exc:
            raise InputError(
                str(path),
                f"not a complete safetensors file ({first_line(exc)})",
                "the whole file as save_pretrained wrote it (re-download or re-save)",
            ) from None
    _check_shapes(source, shapes, peek_config(source) or {})


def _check_shapes(source: ModelSource, shapes: dict[str, list[int]], config: dict) -> None:
    """The weights' patch projection and layer count against config.json: transformers would
    raise on the first and silently fill missing layers with random values on the second."""

    def plain(key: str) -> str:
        return key.removeprefix("ijepa.")

    found = {}
    layers = set()
    for key, shape in shapes.items():
        key = plain(key)
        if key == "embeddings.patch_embeddings.projection.weight":
            found = {"hidden_size": shape[0], "num_channels": shape[1], "patch_size": shape[2]}
        if key.startswith(("layers.", "encoder.layer.")):
            layers.add(key.split(".")[1 if key.startswith("layers.") else 2])
    if layers:
        found["num_hidden_layers"] = len(layers)
    wrong = [
        f"{k} {config[k]} in config.json, {v} in the weights"
        for k, v in found.items()
        if k in config and int(config[k]) != int(v)
    ]
    if wrong:
        raise InputError(
            f"--model {source.spec}",
            "weights do not match config.json: " + "; ".join(wrong),
            "the config.json and weights save_pretrained wrote together",
        )
