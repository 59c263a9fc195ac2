"""Model loading (build time: torch/transformers are imported inside functions).

``--model`` accepts a Hugging Face hub id (through the real ``from_pretrained``), a local
directory written by ``save_pretrained``, or ``random:<preset>``: an offline model with seeded
random weights whose config mirrors a real checkpoint's config.json. Artifacts record which of
these it was, so random weights are never mistaken for a checkpoint.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ijepa_deploy.contract import PreprocessConfig
from ijepa_deploy.errors import BackendUnavailable, IJepaDeployError, InputError, first_line
from ijepa_deploy.exporters.trained_like import add_activation_outliers
from ijepa_deploy.presets import OUTLIERS_SUFFIX, PRESETS, RANDOM_PREFIX, Preset, split_preset
from ijepa_deploy.spec import check_task


@dataclass(frozen=True)
class ModelSource:
    spec: str  # what the user typed
    kind: str  # "preset" | "local" | "hub"
    revision: str | None = None

    @property
    def preset(self) -> Preset:
        return PRESETS[split_preset(self.spec[len(RANDOM_PREFIX) :])[0]]

    @property
    def outliers(self) -> bool:
        """``random:<preset>+outliers``: trained-like activation outliers added (exporters/trained_like.py)."""
        return self.kind == "preset" and split_preset(self.spec[len(RANDOM_PREFIX) :])[1]


def parse_model_source(text: str, revision: str | None = None) -> ModelSource:
    if not text:
        raise InputError("--model", "no model given", "a hub id, a local directory or random:<preset>")
    if text.startswith(RANDOM_PREFIX):
        name = split_preset(text[len(RANDOM_PREFIX) :])[0]
        if name not in PRESETS:
            raise InputError(
                f"--model {text}",
                f"unknown preset {name!r}",
                "one of " + ", ".join(RANDOM_PREFIX + n for n in PRESETS) + f" (each also with {OUTLIERS_SUFFIX})",
            )
        return ModelSource(text, "preset")
    path = Path(text).expanduser()
    if path.exists() or text.startswith((".", "/", "~")):
        if not path.is_dir():
            raise InputError(
                f"--model {text}",
                "path is not a directory",
                "a directory written by save_pretrained (config.json + model.safetensors)",
            )
        config = path / "config.json"
        if not config.is_file():
            raise InputError(
                f"--model {text}", "directory has no config.json", "a directory written by save_pretrained"
            )
        try:
            model_type = json.loads(config.read_text()).get("model_type")
        except json.JSONDecodeError as exc:
            raise InputError(str(config), f"not valid JSON ({exc})", "a transformers config.json") from None
        if model_type != "ijepa":
            raise InputError(
                f"--model {text}",
                f"config.json has model_type {model_type!r}",
                "model_type 'ijepa' (an I-JEPA checkpoint)",
            )
        return ModelSource(str(path), "local", revision)
    if text.count("/") != 1:
        raise InputError(
            f"--model {text}",
            "not a hub id, an existing directory or a preset",
            "e.g. facebook/ijepa_vith14_1k, ./my_checkpoint or random:tiny",
        )
    return ModelSource(text, "hub", revision)


@dataclass
class LoadedModel:
    """A torch model plus everything the artifact must record about where it came from."""

    model: object  # IJepaModel | IJepaForImageClassification, eval mode
    source: ModelSource
    task: str
    preprocess: PreprocessConfig
    info: dict  # goes to manifest["model"]

    @property
    def config(self):
        return self.model.config

    @property
    def num_labels(self) -> int | None:
        return self.config.num_labels if self.task == "image-classification" else None

    @property
    def id2label(self) -> dict | None:
        if self.task != "image-classification":
            return None
        return {str(k): str(v) for k, v in self.config.id2label.items()}


def _model_class(task: str):
    from transformers import IJepaForImageClassification, IJepaModel

    check_task(task)
    return IJepaModel if task == "feature-extraction" else IJepaForImageClassification


def _random_model(source: ModelSource, task: str, seed: int, attn: str):
    import torch
    from transformers import IJepaConfig

    preset = source.preset
    kwargs = preset.config_kwargs()
    if task == "image-classification":
        kwargs["num_labels"] = preset.num_labels
        kwargs["id2label"] = {i: f"class_{i}" for i in range(preset.num_labels)}
        kwargs["label2id"] = {f"class_{i}": i for i in range(preset.num_labels)}
    config = IJepaConfig(**kwargs)
    config._attn_implementation = attn
    torch.manual_seed(seed)
    model = _model_class(task)(config).eval()
    weights = f"random (seeded, seed={seed}): NOT a trained checkpoint"
    if source.outliers:
        add_activation_outliers(model, seed)
        weights += "; trained-like activation outliers added (LayerNorm channels, fc2 inputs, sharper attention)"
    info = {
        "source": source.spec,
        "kind": "preset",
        "preset": preset.name + (OUTLIERS_SUFFIX if source.outliers else ""),
        "mirrors": list(preset.mirrors),
        "revision": None,
        "weights": weights,
        "weights_random": True,
        "seed": seed,
    }
    return (
        model,
        PreprocessConfig(height=preset.image_size, width=preset.image_size, source=f"preset {preset.name}"),
        info,
    )


def _pretrained_model(source: ModelSource, task: str, attn: str):
    config = _checked_config(source, task)
    model = _checked_weights(source, task, attn)
    model.eval()
    revision = (_hub_commit(source) if source.kind == "hub" else None) or source.revision
    if source.kind == "local":
        preprocess = PreprocessConfig.from_pretrained_dir(Path(source.spec), fallback_size=_image_size(config))
    else:
        preprocess = _hub_preprocess(source, fallback_size=_image_size(config))
    info = {
        "source": source.spec,
        "kind": source.kind,
        "revision": revision,
        "weights": "checkpoint (safetensors)",
        "weights_random": False,
        "architectures": config.architectures or [],
    }
    return model, preprocess, info


def _checked_config(source: ModelSource, task: str):
    """The checkpoint's config.json, which must be an I-JEPA one with the head ``task`` needs."""
    from transformers import AutoConfig  # lazy: build-time dependency, imported inside functions (module doc)

    where = f"--model {source.spec}"
    try:
        config = AutoConfig.from_pretrained(source.spec, revision=source.revision, trust_remote_code=False)
    except OSError as exc:
        raise _not_available(source, exc) from None
    if getattr(config, "model_type", None) != "ijepa":
        raise InputError(
            where, f"model_type is {getattr(config, 'model_type', None)!r}", "an I-JEPA checkpoint (model_type 'ijepa')"
        )
    architectures = config.architectures or []
    if task == "image-classification" and "IJepaForImageClassification" not in architectures:
        raise InputError(
            where,
            f"checkpoint has no classification head (architectures {architectures})",
            "--task feature-extraction, or a fine-tuned IJepaForImageClassification checkpoint",
        )
    return config


def _checked_weights(source: ModelSource, task: str, attn: str):
    """The checkpoint's model with every weight loaded from safetensors (none missing or mis-shaped)."""
    from safetensors import SafetensorError  # lazy: build-time dependency, imported inside functions (module doc)

    where = f"--model {source.spec}"
    try:
        model, loading = _model_class(task).from_pretrained(
            source.spec,
            revision=source.revision,
            use_safetensors=True,
            trust_remote_code=False,
            attn_implementation=attn,
            output_loading_info=True,
        )
    except OSError as exc:
        raise _not_available(source, exc) from None
    except (RuntimeError, ValueError, SafetensorError) as exc:  # shapes or files that do not fit the config
        raise InputError(
            where,
            f"weights do not match config.json ({first_line(exc)})",
            "the config.json and weights save_pretrained wrote together",
        ) from None
    # transformers fills missing or mis-shaped weights with random values and only logs it: an
    # export of such a model would pass its parity check and embed nothing meaningful.
    bad = sorted(loading.get("missing_keys") or []) + sorted(str(k) for k in loading.get("mismatched_keys") or [])
    if bad:
        raise InputError(
            where,
            f"{len(bad)} weights missing or mis-shaped for its config.json (e.g. {', '.join(bad[:3])})",
            "a checkpoint whose weights match its config.json",
        )
    return model


def _hub_commit(source: ModelSource) -> str | None:
    """The commit the hub (or, offline, the local cache's refs/) resolved ``source.revision`` to:
    the snapshot directory from_pretrained read is named after it. A branch or tag name alone
    would not say which weights the artifact holds."""
    import re

    from huggingface_hub import hf_hub_download

    try:
        path = Path(hf_hub_download(source.spec, "config.json", revision=source.revision))
    except OSError:
        return None
    commit = path.parent.name
    return commit if path.parent.parent.name == "snapshots" and re.fullmatch(r"[0-9a-f]{40}", commit) else None


def _image_size(config) -> int:
    size = config.image_size
    return int(size if isinstance(size, int) else size[0])


def _hub_preprocess(source: ModelSource, fallback_size: int) -> PreprocessConfig:
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError

    try:
        path = hf_hub_download(source.spec, "preprocessor_config.json", revision=source.revision)
    except EntryNotFoundError:
        return PreprocessConfig(
            height=fallback_size, width=fallback_size, source="default (checkpoint has no preprocessor_config.json)"
        )
    except OSError as exc:
        raise _not_available(source, exc) from None
    return PreprocessConfig.from_pretrained_dir(Path(path).parent, fallback_size)


def _not_available(source: ModelSource, exc: Exception) -> IJepaDeployError:
    first = first_line(exc)
    if source.kind == "local":
        return InputError(
            f"--model {source.spec}",
            f"cannot load the checkpoint ({first})",
            "config.json and model.safetensors written by save_pretrained",
        )
    return BackendUnavailable(
        f"--model {source.spec}",
        f"not in the local Hugging Face cache and the hub could not be reached ({first})",
        "network access to the hub, or a local copy: download it where you have access "
        "(huggingface-cli download " + source.spec + " --local-dir DIR) and pass --model DIR",
    )


def load_model(source: ModelSource, task: str, *, seed: int = 0, attn: str = "sdpa") -> LoadedModel:
    """Load the torch model for ``task`` (eval mode, fp32)."""
    if source.kind == "preset":
        model, preprocess, info = _random_model(source, task, seed, attn)
    else:
        model, preprocess, info = _pretrained_model(source, task, attn)
    model.float()
    cfg = model.config
    info.update(
        {
            "model_type": "ijepa",
            "class": type(model).__name__,
            "hidden_size": cfg.hidden_size,
            "num_hidden_layers": cfg.num_hidden_layers,
            "num_attention_heads": cfg.num_attention_heads,
            "intermediate_size": cfg.intermediate_size,
            "patch_size": cfg.patch_size,
            "image_size": _image_size(cfg),
            "layer_norm_eps": cfg.layer_norm_eps,
            "parameters": sum(p.numel() for p in model.parameters()),
        }
    )
    return LoadedModel(model=model, source=source, task=task, preprocess=preprocess, info=info)
