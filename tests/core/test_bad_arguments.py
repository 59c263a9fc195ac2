"""Bad arguments and output paths: one-line user errors, found before the heavy work (the export,
the model load, the benchmark), never a traceback."""

from __future__ import annotations

import json
import shutil
import time

import pytest

from ijepa_deploy.cli.bench import main as bench_main
from ijepa_deploy.cli.build import main as build_main
from ijepa_deploy.cli.embed import main as embed_main
from ijepa_deploy.cli.export import main as export_main
from ijepa_deploy.outputs import check_output_dir, check_output_file
from ijepa_deploy.runtime.photos import bundled_images


def run_main(main, argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return exc.value.code, err.strip()


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """save_pretrained of the tiny preset, plus damaged copies."""
    from transformers import IJepaConfig, IJepaModel

    from ijepa_deploy.presets import PRESETS

    root = tmp_path_factory.mktemp("ckpt")
    IJepaModel(IJepaConfig(**PRESETS["tiny"].config_kwargs())).save_pretrained(root / "good")

    def damaged(name, config=None, cut=None):
        shutil.copytree(root / "good", root / name)
        if config:
            cfg = json.loads((root / name / "config.json").read_text())
            cfg.update(config)
            (root / name / "config.json").write_text(json.dumps(cfg))
        if cut:
            weights = root / name / "model.safetensors"
            data = weights.read_bytes()
            weights.write_bytes(data[: cut(len(data))])

    damaged("wider", config={"hidden_size": 256, "num_attention_heads": 4})
    damaged("deeper", config={"num_hidden_layers": 6})
    damaged("truncated", cut=lambda n: n // 2)
    damaged("headless", cut=lambda n: 100)
    return root


@pytest.mark.parametrize(
    "name, problem",
    [
        ("wider", "weights do not match config.json: hidden_size 256 in config.json, 192 in the weights"),
        ("deeper", "weights do not match config.json: num_hidden_layers 6 in config.json, 4 in the weights"),
        ("truncated", "not a complete safetensors file"),
        ("headless", "not a complete safetensors file"),
    ],
)
def test_damaged_checkpoints(checkpoints, tmp_path, capsys, name, problem):
    code, err = run_main(export_main, ["--model", checkpoints / name, "-o", tmp_path / "out"], capsys)
    assert code == 1 and problem in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "out" / "model.onnx").exists()


@pytest.mark.parametrize(
    "argv, problem",
    [
        (["--opset", "5"], "--opset | 5 is outside what this export can write. Note: expected 17.."),
        (["--opset", "30"], "--opset | 30 is outside"),
        (["--image-size", "100000"], "--image-size | 100000 px is 6250x6250 patches"),
        (["--image-size", "1000"], "--image-size | 1000 is not a multiple of the patch size 16"),
        (["--image-size", "8"], "--image-size | 8. Note: expected a resolution of at least one patch (16 px)"),
        (["--int8", "--calib-dir", "EMPTY"], "contains no image files"),
    ],
)
def test_export_arguments_fail_in_seconds(tmp_path, capsys, argv, problem):
    (tmp_path / "EMPTY").mkdir()
    argv = [str(tmp_path / "EMPTY") if a == "EMPTY" else a for a in argv]
    start = time.perf_counter()
    code, err = run_main(export_main, ["--model", "random:tiny", "-o", tmp_path / "out", *argv], capsys)
    assert code == 1 and problem in err, err
    assert time.perf_counter() - start < 3  # no model was loaded (a tiny load is ~4 s)
    assert not (tmp_path / "out").exists()


def test_export_output_naming_a_file(tmp_path, capsys):
    (tmp_path / "f").write_text("mine")
    code, err = run_main(export_main, ["--model", "random:tiny", "-o", tmp_path / "f"], capsys)
    assert (
        code == 1
        and err
        == f"error: --output | {tmp_path / 'f'} exists and is not a directory. Note: expected "
        "a directory path (a new one, or an existing directory)"
    )
    code, err = run_main(export_main, ["--model", "random:tiny", "-o", tmp_path / "f" / "sub"], capsys)
    assert code == 1 and f"{tmp_path / 'f'} is not a directory" in err
    assert (tmp_path / "f").read_text() == "mine"


def test_output_helpers_create_nothing(tmp_path):
    assert check_output_dir(tmp_path / "a" / "b", "x") == tmp_path / "a" / "b"
    assert check_output_file(tmp_path / "c" / "v.npy", "x") == tmp_path / "c" / "v.npy"
    assert list(tmp_path.iterdir()) == []


def test_embed_output_checked_before_the_work(tmp_path, capsys, tiny_artifact):
    image = str(bundled_images()[0])
    (tmp_path / "dir.npy").mkdir()
    code, err = run_main(embed_main, [tiny_artifact, image, "--output", tmp_path / "dir.npy"], capsys)
    assert code == 1 and "--output" in err and "is a directory" in err
    (tmp_path / "file").write_text("x")
    code, err = run_main(embed_main, [tiny_artifact, image, "--output", tmp_path / "file" / "v.npy"], capsys)
    assert code == 1 and "is not a directory" in err


def test_embed_output_is_the_named_file(tmp_path, capsys, tiny_artifact):
    import numpy as np

    out = tmp_path / "vectors"  # np.save would have written vectors.npy
    with pytest.raises(SystemExit) as exc:
        embed_main([str(tiny_artifact), str(bundled_images()[0]), "--output", str(out)])
    assert exc.value.code == 0 and np.load(out).shape == (1, 192)


def test_bench_output_checked_before_the_work(tmp_path, capsys, tiny_artifact):
    (tmp_path / "report").write_text("not a directory")
    start = time.perf_counter()
    code, err = run_main(bench_main, [tiny_artifact, "-o", tmp_path / "report"], capsys)
    assert code == 1 and err.startswith("error: --output |") and "is not a directory" in err
    assert time.perf_counter() - start < 5


def test_build_timing_cache_checked_before_the_work(tmp_path, capsys, tiny_artifact):
    code, err = run_main(build_main, [tiny_artifact, "--timing-cache", tmp_path], capsys)
    assert code == 1 and err == f"error: --timing-cache | {tmp_path} is a directory. Note: expected a file path"


@pytest.mark.parametrize(
    "name, problem",
    [
        ("deeper", "32 weights missing or mis-shaped for its config.json (e.g. layers.4."),
        ("wider", "weights do not match config.json"),
    ],
)
def test_load_model_refuses_weights_transformers_would_fill_randomly(checkpoints, name, problem):
    """The check after loading (hub checkpoints have no pre-check)."""
    from ijepa_deploy.errors import InputError
    from ijepa_deploy.exporters.models import load_model, parse_model_source

    with pytest.raises(InputError) as info:
        load_model(parse_model_source(str(checkpoints / name)), "feature-extraction")
    assert problem in info.value.problem


def test_hub_exports_record_the_resolved_commit(checkpoints, tmp_path):
    """Offline, from a hand-made Hugging Face cache: refs/main -> snapshots/<commit>/."""
    import os
    import subprocess
    import sys

    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "hub" / "models--org--tiny"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    shutil.copytree(checkpoints / "good", repo / "snapshots" / commit)
    env = dict(os.environ, HF_HUB_CACHE=str(tmp_path / "hub"), HF_HUB_OFFLINE="1")
    code = (
        "from ijepa_deploy.exporters.models import load_model, parse_model_source\n"
        "for rev in (None, 'main'):\n"
        "    print(load_model(parse_model_source('org/tiny', rev), 'feature-extraction').info['revision'])\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == [commit, commit]


def test_bench_refuses_unverified_artifacts_unless_told(tmp_path, capsys, tiny_artifact):
    from ijepa_deploy.manifest import read_manifest

    art = tmp_path / "art"
    shutil.copytree(tiny_artifact, art)
    with open(art / "model.onnx", "ab") as fh:
        fh.write(b"tampered")
    start = time.perf_counter()
    code, err = run_main(bench_main, [art, "-o", tmp_path / "r"], capsys)
    assert code == 1 and "checksum mismatch" in err and "--allow-unverified" in err
    assert time.perf_counter() - start < 5 and not (tmp_path / "r").exists()

    shutil.rmtree(art)
    shutil.copytree(tiny_artifact, art)
    manifest = read_manifest(art)
    manifest.status = "failed"
    manifest.write(art)
    code, err = run_main(bench_main, [art, "-o", tmp_path / "r"], capsys)
    assert code == 1 and "artifact status is 'failed'" in err

    from ijepa_deploy.cli.bench import _main as bench_run

    assert (
        bench_run(
            [
                str(art),
                "-o",
                str(tmp_path / "r"),
                "--allow-unverified",
                "--batch-sizes",
                "1",
                "--threads",
                "1",
                "--min-iters",
                "1",
                "--min-seconds",
                "0",
                "--gemm-size",
                "64",
                "--skip-compile",
                "--no-memory-probe",
                "--no-end-to-end",
                "--paired-rounds",
                "0",
                "--providers",
                "cpu",
                "--quiet",
            ]
        )
        == 0
    )
    assert (
        "UNVERIFIED artifact (--allow-unverified): artifact status is 'failed'"
        in (tmp_path / "r" / "report.md").read_text()
    )
