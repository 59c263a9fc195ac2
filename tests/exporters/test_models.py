"""Presets mirror the real checkpoints; model sources resolve or fail with one clear error."""

from __future__ import annotations

import json

import pytest

from ijepa_deploy.errors import BackendUnavailable, InputError
from ijepa_deploy.exporters.models import load_model, parse_model_source
from ijepa_deploy.presets import PRESETS

# Values from the facebook/ijepa_* config.json files.
CHECKPOINTS = {
    "vith14": (1280, 32, 16, 5120, 14, 224),
    "vith16-448": (1280, 32, 16, 5120, 16, 448),
    "vitg16": (1408, 40, 16, 6144, 16, 224),
}


@pytest.mark.parametrize("name", sorted(CHECKPOINTS))
def test_presets_mirror_checkpoints(name):
    p = PRESETS[name]
    assert (
        p.hidden_size,
        p.num_hidden_layers,
        p.num_attention_heads,
        p.intermediate_size,
        p.patch_size,
        p.image_size,
    ) == CHECKPOINTS[name]
    kwargs = p.config_kwargs()
    assert kwargs["layer_norm_eps"] == 1e-6 and kwargs["hidden_act"] == "gelu" and kwargs["qkv_bias"]
    assert all(m.startswith("facebook/ijepa_") for m in p.mirrors)


def test_unknown_preset_lists_the_known_ones():
    with pytest.raises(InputError) as err:
        parse_model_source("random:vitz99")
    assert "unknown preset 'vitz99'" in err.value.problem
    assert "random:tiny" in err.value.expected and "random:vitg16" in err.value.expected


def test_local_directory_checks(tmp_path):
    with pytest.raises(InputError, match="no config.json"):
        parse_model_source(str(tmp_path))
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "vit"}))
    with pytest.raises(InputError, match="model_type 'vit'"):
        parse_model_source(str(tmp_path))
    with pytest.raises(InputError, match="not a directory"):
        parse_model_source(str(tmp_path / "config.json"))
    with pytest.raises(InputError, match="not a hub id"):
        parse_model_source("just-a-name")
    assert parse_model_source("facebook/ijepa_vith14_1k").kind == "hub"


def test_offline_hub_id_says_how_to_point_at_a_local_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty-cache"))
    import huggingface_hub.constants as hc

    monkeypatch.setattr(hc, "HF_HUB_OFFLINE", True)
    with pytest.raises(BackendUnavailable) as err:
        load_model(parse_model_source("facebook/ijepa_vith14_1k"), "feature-extraction")
    assert err.value.subject == "--model facebook/ijepa_vith14_1k"
    assert "cache" in err.value.problem
    assert "--model DIR" in err.value.expected


def test_random_weights_are_seeded_and_labelled():
    import torch

    a = load_model(parse_model_source("random:tiny"), "feature-extraction", seed=3)
    b = load_model(parse_model_source("random:tiny"), "feature-extraction", seed=3)
    assert a.info["weights_random"] and "NOT a trained checkpoint" in a.info["weights"]
    assert a.config.layer_norm_eps == 1e-6
    for pa, pb in zip(a.model.parameters(), b.model.parameters()):
        assert torch.equal(pa, pb)


def test_local_save_pretrained_dir_round_trips(tmp_path):
    from transformers.models.vit import ViTImageProcessorPil

    loaded = load_model(parse_model_source("random:tiny"), "image-classification", seed=1)
    loaded.model.save_pretrained(tmp_path)
    ViTImageProcessorPil(size={"height": 224, "width": 224}, image_mean=[0.5] * 3, image_std=[0.5] * 3).save_pretrained(
        tmp_path
    )
    assert (tmp_path / "model.safetensors").is_file()
    again = load_model(parse_model_source(str(tmp_path)), "image-classification")
    assert again.info["kind"] == "local" and not again.info["weights_random"]
    assert again.preprocess.source == "preprocessor_config.json"
    assert again.id2label["3"] == "class_3"
    # The same directory, as a base model: the classifier is dropped.
    assert load_model(parse_model_source(str(tmp_path)), "feature-extraction").info["class"] == "IJepaModel"


def test_classification_on_a_base_checkpoint_is_refused(tmp_path):
    load_model(parse_model_source("random:tiny"), "feature-extraction").model.save_pretrained(tmp_path)
    with pytest.raises(InputError, match="no classification head"):
        load_model(parse_model_source(str(tmp_path)), "image-classification")
