"""Ctrl-C / SIGTERM to the whole process group (as a terminal or a batch scheduler sends it) stop a
job cleanly: exit 130 / 143 with one line, finished parts kept, no half-written part; the same
command then finishes and every image is in the output exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from dataset_corpus import image, read_rows

COUNT = 64


@pytest.fixture(scope="module")
def slow_corpus(tmp_path_factory):
    """COUNT hard links to one PNG (the tiny model takes ~40 ms an image here: the run lasts seconds)."""
    root = tmp_path_factory.mktemp("slow") / "images"
    root.mkdir()
    image(1, (400, 300)).save(root / "source.png", "PNG")
    for i in range(COUNT - 1):
        os.link(root / "source.png", root / f"img {i:04d}.png")
    return root


def command(artifact, root, out) -> list[str]:
    script = "from ijepa_deploy.cli.embed_dataset import main; main()"
    return [
        sys.executable,
        "-c",
        script,
        str(artifact),
        str(root),
        "--output",
        str(out),
        "--part-size",
        "8",
        "--batch-size",
        "8",
        "--workers",
        "1",
        "--backend",
        "onnxruntime",
        "--no-progress",
    ]


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_keeps_finished_parts_and_a_rerun_completes(tiny_artifact, slow_corpus, tmp_path, signum):
    out = tmp_path / "out"
    proc = subprocess.Popen(
        command(tiny_artifact, slow_corpus, out),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    while not (out / "part-00001.parquet").exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    os.killpg(proc.pid, signum)  # the job and its decode workers, as Ctrl-C in a terminal
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signum, err
    assert err.strip().splitlines()[-1] == f"interrupted by {signal.Signals(signum).name}", err
    assert "Traceback" not in err
    names = sorted(p.name for p in out.iterdir())
    parts = [n for n in names if n.startswith("part-")]
    assert 2 <= len(parts) < COUNT // 8, names
    assert [n for n in names if n.startswith(".") and n != ".ijepa_dataset.lock"] == []  # no temporary file left
    kept = read_rows(out)
    assert len(kept) == 8 * len(parts)

    rerun = subprocess.run(command(tiny_artifact, slow_corpus, out), capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert f"{len(parts)} before this run" in rerun.stdout
    rows = read_rows(out)  # asserts each path once
    assert len(rows) == COUNT and not list(out.glob("errors-*"))
    for key in kept:
        assert rows[key]["embedding"] == kept[key]["embedding"]
