"""Real photos in every mode the C++ decoder must handle, written to disk once per session."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

ASSETS = Path(__file__).resolve().parents[3] / "ijepa_deploy" / "assets"


def png16_rgb(path: Path, rgb16: np.ndarray) -> None:
    """16-bit RGB PNG (Pillow cannot write one): signature, IHDR (depth 16, colour 2), IDAT, IEND."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    height, width, _ = rgb16.shape
    rows = b"".join(b"\x00" + rgb16[y].astype(">u2").tobytes() for y in range(height))
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def write_photo_set(directory: Path) -> dict[str, Path]:
    """name -> file. Bundled JPEGs plus skimage.data photos converted to each mode and size case."""
    from skimage import data

    directory.mkdir(parents=True, exist_ok=True)
    out: dict[str, Path] = {}

    def save(name: str, image: Image.Image, fmt: str, **kw) -> None:
        path = directory / f"{name}.{fmt.lower()}"
        image.save(path, fmt, **kw)
        out[name] = path

    for asset in sorted(ASSETS.glob("*.jpg")):
        out[f"asset-{asset.stem}"] = asset  # RGB JPEG, non-square sizes
    chelsea = Image.fromarray(data.chelsea())  # 451x300 RGB
    coffee = Image.fromarray(data.coffee())  # 600x400 RGB
    astronaut = Image.fromarray(data.astronaut())  # 512x512 RGB
    camera = Image.fromarray(data.camera())  # 512x512 L
    save("rgb-png-chelsea", chelsea, "PNG")
    save("l-png-camera", camera, "PNG")
    save("l-jpeg-camera", camera, "JPEG", quality=90)
    ramp = np.linspace(0, 255, astronaut.width, dtype=np.float64)[None, :].repeat(astronaut.height, 0)
    rgba = astronaut.copy()
    rgba.putalpha(Image.fromarray(ramp.astype(np.uint8)))
    save("rgba-png-astronaut", rgba, "PNG")
    la = camera.copy().convert("LA")
    la.putalpha(Image.fromarray(ramp.T.astype(np.uint8)))
    save("la-png-camera", la, "PNG")
    save("p-png-chelsea", chelsea.quantize(256), "PNG")
    p_trns = coffee.quantize(64)
    save("p-trns-png-coffee", p_trns, "PNG", transparency=5)
    save("cmyk-jpeg-coffee", coffee.convert("CMYK"), "JPEG", quality=92)
    sixteen = np.asarray(camera, dtype=np.uint16) * 257 + np.arange(512, dtype=np.uint16)[None, :] % 251
    save("i16-png-camera", Image.fromarray(sixteen.astype(np.uint16)), "PNG")
    rgb16 = np.asarray(chelsea, dtype=np.uint16) * 257 + 113
    png16_rgb(directory / "rgb16-png-chelsea.png", rgb16)
    out["rgb16-png-chelsea"] = directory / "rgb16-png-chelsea.png"
    # Every (value, alpha) pair once: alpha compositing onto white, exhaustively.
    grid = np.zeros((256, 256, 4), dtype=np.uint8)
    grid[..., 0] = np.arange(256)[None, :]
    grid[..., 1] = 255 - np.arange(256)[None, :]
    grid[..., 2] = (np.arange(256)[None, :] * 7) % 256
    grid[..., 3] = np.arange(256)[:, None]
    save("rgba-png-all-pairs", Image.fromarray(grid, "RGBA"), "PNG")
    # Sizes: upscale, >= 4x downscale (both axes), 1x1, exact size (no resize), odd non-square.
    save("upscale-7x5", chelsea.resize((7, 5), Image.Resampling.BOX), "PNG")
    save("downscale-1804x1200", chelsea.resize((1804, 1200), Image.Resampling.BICUBIC), "JPEG", quality=90)
    save("downscale-wide-2400x250", coffee.resize((2400, 250), Image.Resampling.BICUBIC), "PNG")
    save("one-pixel", Image.new("RGB", (1, 1), (200, 30, 90)), "PNG")
    save("exact-224", coffee.resize((224, 224), Image.Resampling.BICUBIC), "PNG")
    save("wide-up-1000x150", chelsea.resize((1000, 150), Image.Resampling.BICUBIC), "PNG")
    save("tall-97x903", astronaut.resize((97, 903), Image.Resampling.BICUBIC), "JPEG", quality=85)
    save("progressive-jpeg", coffee, "JPEG", quality=80, progressive=True)
    return out
