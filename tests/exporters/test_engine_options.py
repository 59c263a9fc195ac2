"""Engine build options: defaults taken from the artifact, checks with plain errors, and the
``ijepa-build`` command line that fills them."""

from __future__ import annotations

from pathlib import Path

import pytest

from ijepa_deploy.errors import InputError
from ijepa_deploy.exporters.tensorrt_build import EngineOptions
from ijepa_deploy.manifest import Manifest
from ijepa_deploy.records import EngineProfile
from manifest_factory import small_manifest


def fake_manifest(max_batch: int = 8) -> Manifest:
    return small_manifest(max_batch=max_batch)


def test_engine_options_defaults_follow_the_artifact(tmp_path):
    opts = EngineOptions().resolved(fake_manifest(max_batch=8), tmp_path)
    assert opts.variants == ("fp32",)
    assert (opts.min_batch, opts.opt_batch, opts.max_batch) == (1, 8, 8)
    assert opts.timing_cache == tmp_path / "timing.cache"
    assert opts.profile() == EngineProfile(min=1, opt=8, max=8)
    small = EngineOptions().resolved(fake_manifest(max_batch=4))
    assert (small.opt_batch, small.max_batch) == (4, 4)  # default opt 8 is capped at max
    custom = EngineOptions(
        min_batch=2, opt_batch=3, max_batch=6, timing_cache=tmp_path / "x.cache", hardware_compatibility="none"
    ).resolved(fake_manifest())
    assert (custom.min_batch, custom.opt_batch, custom.max_batch) == (2, 3, 6)
    assert custom.hardware_compatibility is None and custom.timing_cache == tmp_path / "x.cache"


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(min_batch=4, opt_batch=2, max_batch=8), "not in order"),
        (dict(min_batch=1, opt_batch=8, max_batch=4), "not in order"),
        (dict(max_batch=16), "exceeds the artifact's max batch 8"),
        (dict(min_batch=0), "below the artifact's minimum batch"),
        (dict(variants=("fp16",)), "artifact has no fp16 graph"),
        (dict(variants=()), "no variant given"),
        (dict(workspace_gib=0), "--workspace-gib"),
        (dict(opt_level=7), "--opt-level"),
        (dict(hardware_compatibility="turing_plus"), "unknown level"),
    ],
)
def test_engine_options_are_checked(kwargs, match):
    with pytest.raises(InputError, match=match) as info:
        EngineOptions(**kwargs).resolved(fake_manifest())
    assert "Note: expected" in info.value.format()


def test_missing_variant_says_how_to_export_it():
    with pytest.raises(InputError) as info:
        EngineOptions(variants=("int8",)).resolved(fake_manifest())
    assert "ijepa-export --int8" in str(info.value)


def test_ijepa_build_argument_errors(fake_artifact, capsys):
    from ijepa_deploy.cli.build import main, parse_args

    args = parse_args(
        [
            str(fake_artifact),
            "--variant",
            "fp32",
            "--variant",
            "fp16",
            "--min-batch",
            "2",
            "--opt-batch",
            "4",
            "--max-batch",
            "6",
            "--workspace-gib",
            "2",
            "--opt-level",
            "5",
            "--timing-cache",
            "/tmp/t.cache",
            "--hardware-compatibility",
            "ampere_plus",
            "--version-compatible",
        ]
    )
    assert args.options == EngineOptions(("fp32", "fp16"), 2, 4, 6, 2.0, 5, Path("/tmp/t.cache"), "ampere_plus", True)
    assert parse_args([str(fake_artifact)]).options == EngineOptions()
    for argv, match in (
        ([str(fake_artifact), "--max-batch", "99"], "exceeds the artifact's max batch"),
        ([str(fake_artifact), "--variant", "int8"], "ijepa-export --int8"),
        ([str(fake_artifact), "--opt-level", "x"], "invalid int value"),
        ([str(fake_artifact.parent / "nope")], "artifact directory does not exist"),
    ):
        with pytest.raises(SystemExit) as info:
            main(argv)
        assert info.value.code == 1
        err = capsys.readouterr().err
        assert err.startswith("error: ") and match in err, err
