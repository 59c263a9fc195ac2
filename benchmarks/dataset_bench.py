"""ijepa-embed-dataset throughput and memory (issue 19, item 9), one run, candidates interleaved:

    python -m ijepa_deploy.benchmarks.dataset_bench ARTIFACT --workdir DIR [--images 2000] [--threads 2]

Generates a seeded corpus of mixed sizes and formats (JPEG, PNG, WebP; 160-1200 px a side), then
in rounds, each candidate as its own process: pure inference of the same runner on preprocessed
tensors (both OpenVINO hints), the local engine, ``ijepa-embed`` on the same files, the Ray engine
on a local Ray; finally the local engine's peak RSS (process tree, sampled) at two corpus sizes.
Prints JSON lines and writes DIR/results.json.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

from ijepa_deploy.manifest import read_manifest
from ijepa_deploy.runtime import RunnerOptions, load
from ijepa_deploy.runtime.model import choose_backend

FORMATS = (("JPEG", ".jpg", 0.7), ("PNG", ".png", 0.2), ("WEBP", ".webp", 0.1))
BIN = Path(sys.executable).parent


def make_corpus(root: Path, count: int, seed: int = 0) -> list[Path]:
    """Photo-like images (smooth colour fields plus noise) of mixed sizes; reused when present."""
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(count):
        fmt, ext, _ = FORMATS[rng.choice(len(FORMATS), p=[f[2] for f in FORMATS])]
        path = root / f"{i // 500:03d}" / f"img {i:05d}{ext}"
        width, height = (int(v) for v in rng.integers(160, 1200, 2))
        paths.append(path)
        if path.exists():
            continue
        path.parent.mkdir(exist_ok=True)
        small = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)
        img = np.asarray(Image.fromarray(small).resize((width, height), Image.Resampling.BICUBIC), np.int16)
        img = np.clip(img + rng.integers(-12, 13, img.shape), 0, 255).astype(np.uint8)
        Image.fromarray(img).save(path, fmt, quality=90) if fmt != "PNG" else Image.fromarray(img).save(path, fmt)
    return paths


def pure_inference(artifact: str, listing: Path, threads: int, hint: str, batch: int, images: int) -> float:
    """img/s of the engine's runner on preprocessed tensors, with as many batches in flight as it
    has streams (the local engine's setting)."""
    from concurrent.futures import ThreadPoolExecutor

    files = listing.read_text().splitlines()[:batch]
    options = RunnerOptions(threads=threads, performance_hint=hint if "openvino" in _auto_backend(artifact) else None)
    model = load(artifact, backend="auto", precision="fp32", options=options)
    pixels = model.preprocess(files)
    streams = max(1, int(getattr(model.runner, "pool_size", 1)))
    with ThreadPoolExecutor(streams) as pool:
        list(pool.map(lambda _: model.run(pixels), range(streams)))  # warm-up
        start = time.perf_counter()
        list(pool.map(lambda _: model.run(pixels), range(images // batch)))
        return (images // batch) * batch / (time.perf_counter() - start)


def _auto_backend(artifact: str) -> str:
    return choose_backend(read_manifest(artifact), "fp32")[0]


def timed(cmd: list[str], sample_rss: bool = False) -> dict:
    """Wall time, output and (optionally) the peak RSS of the process tree, sampled every 0.2 s."""
    import psutil

    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = 0
    if sample_rss:
        parent = psutil.Process(proc.pid)
        while proc.poll() is None:
            try:
                tree = [parent, *parent.children(recursive=True)]
                peak = max(peak, sum(p.memory_info().rss for p in tree if p.is_running()))
            except psutil.Error:
                pass
            time.sleep(0.2)
    out, err = proc.communicate()
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{cmd[0]} failed ({proc.returncode}):\n{err[-2000:]}")
    rate = re.search(r"([\d.]+) img/s", out)
    return {
        "wall_s": round(wall, 2),
        "engine_img_s": float(rate.group(1)) if rate else None,
        "peak_tree_rss_gib": round(peak / 1024**3, 3) if sample_rss else None,
    }


def dataset_cmd(artifact: str, listing: Path, out: Path, threads: int, *extra: str) -> list[str]:
    shutil.rmtree(out, ignore_errors=True)
    return [
        str(BIN / "ijepa-embed-dataset"),
        artifact,
        str(listing),
        "--output",
        str(out),
        "--threads",
        str(threads),
        "--no-progress",
        *extra,
    ]


def main(argv=None) -> int:
    a = _parse_args(argv)
    if a.pure:
        print(
            json.dumps({"img_s": pure_inference(a.artifact, Path(a.pure[0]), a.threads, a.pure[1], 32, a.pure_images)})
        )
        return 0
    paths = make_corpus(a.workdir / "images", max(a.images, *a.rss_images))
    listings = {}
    for n in {a.images, *a.rss_images}:
        listings[n] = a.workdir / f"listing-{n}.txt"
        listings[n].write_text("".join(f"{p}\n" for p in paths[:n]))
    main_listing, files = listings[a.images], [str(p) for p in paths[: a.images]]
    results = _run_rounds(a, _candidates(a, main_listing, files), main_listing)
    results.update(_rss_rows(a, listings))
    (a.workdir / "results.json").write_text(
        json.dumps({"cpu": _cpu(), "images": a.images, "results": results}, indent=2)
    )
    return 0


def _parse_args(argv) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("artifact")
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--rss-images", type=int, nargs=2, default=[500, 5000])
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--pure-images", type=int, default=256, help="images timed for pure inference")
    parser.add_argument("--rss-artifact", help="artifact for the RSS runs (default: ARTIFACT)")
    parser.add_argument("--pure", nargs=2, metavar=("LISTING", "HINT"), help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def _candidates(a: argparse.Namespace, main_listing: Path, files: list[str]) -> dict[str, list[str]]:
    """The command of each timed candidate; pure inference re-runs this module with --pure."""
    pure = [
        sys.executable,
        "-m",
        "ijepa_deploy.benchmarks.dataset_bench",
        a.artifact,
        "--workdir",
        str(a.workdir),
        "--threads",
        str(a.threads),
        "--pure-images",
        str(a.pure_images),
        "--pure",
        str(main_listing),
    ]
    return {
        "pure inference (THROUGHPUT)": pure + ["THROUGHPUT"],
        "pure inference (LATENCY)": pure + ["LATENCY"],
        "local engine": dataset_cmd(a.artifact, main_listing, a.workdir / "out-local", a.threads),
        "ijepa-embed": [str(BIN / "ijepa-embed"), a.artifact, *files, "--threads", str(a.threads)],
        "ray engine": dataset_cmd(a.artifact, main_listing, a.workdir / "out-ray", a.threads, "--engine", "ray"),
    }


def _run_rounds(a: argparse.Namespace, candidates: dict[str, list[str]], main_listing: Path) -> dict[str, list]:
    """Each round times every candidate once, in turn, and prints its row as it comes."""
    results: dict[str, list] = {name: [] for name in candidates}
    for r in range(a.rounds):
        for name, cmd in candidates.items():
            if name.startswith(("local", "ray")):
                cmd = dataset_cmd(
                    a.artifact,
                    main_listing,
                    a.workdir / f"out-{name.split()[0]}",
                    a.threads,
                    *(["--engine", "ray"] if name.startswith("ray") else []),
                )
            if name.startswith("pure"):
                row = json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout)
            else:
                row = timed(cmd, sample_rss=name.startswith("local"))
                row["wall_img_s"] = round(a.images / row["wall_s"], 2)
            row.update(round=r, candidate=name)
            results[name].append(row)
            print(json.dumps(row), flush=True)
    return results


def _rss_rows(a: argparse.Namespace, listings: dict[int, Path]) -> dict[str, list]:
    """The local engine's peak RSS at each --rss-images count, one row each."""
    results: dict[str, list] = {}
    for n in a.rss_images:
        artifact = a.rss_artifact or a.artifact
        row = timed(dataset_cmd(artifact, listings[n], a.workdir / f"out-rss-{n}", a.threads), sample_rss=True)
        row.update(candidate=f"local engine RSS at {n} images ({Path(artifact).name})")
        results[row["candidate"]] = [row]
        print(json.dumps(row), flush=True)
    return results


def _cpu() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return f"{line.split(':', 1)[1].strip()}, {os.cpu_count()} CPUs"
    return "unknown"


if __name__ == "__main__":
    sys.exit(main())
