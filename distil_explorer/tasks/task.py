"""`Task`: what `DistilBertMaskedLM` and `DistilBertTextClassifier` share.

A backbone plus a few head layers in one functional graph, as keras-hub's
`Task`: presets (load and save), quantization, and the config that rebuilds
a quantized head.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from typing import Any

import keras

DTypePolicyMap = keras.dtype_policies.DTypePolicyMap


def checked_backbone(backbone: Any, task: str):
    # Imported here: Keras's import hook (model/registration.py) imports the
    # task modules while the backbone's module may still be importing.
    from distil_explorer.model.backbone import DistilBertBackbone

    if not isinstance(backbone, DistilBertBackbone):
        raise ValueError(
            f"backbone={type(backbone).__name__}: {task} needs one; allowed: a "
            "DistilBertBackbone"
        )
    return backbone


def head_policy(dtype: Any, name: str, default: Any):
    """The policy of head layer `name` from a task config's `dtype` (a map)."""
    if isinstance(dtype, dict):
        dtype = keras.dtype_policies.deserialize(dtype)
    if isinstance(dtype, DTypePolicyMap) and name in dtype:
        return dtype[name]
    return default


def _chosen(layer, filters) -> bool:
    """Keras's filter rules: None, a callable, a regex or a list of them."""
    if filters is None:
        return True
    if callable(filters):
        return bool(filters(layer))
    patterns = [filters] if isinstance(filters, str) else filters
    return any(re.search(pattern, layer.name) for pattern in patterns)


# The task class of each `Task.task_kind`, for errors that name it.
TASK_CLASSES = {
    "masked_lm": "DistilBertMaskedLM",
    "classifier": "DistilBertTextClassifier",
}


def missing_task(model: Any, kind: str) -> str | None:
    """None when `model` is a `Task` of `kind`; else the class name it needs.

    Examples:
    ```python
    missing_task(backbone, "classifier")  # 'DistilBertTextClassifier'
    ```
    """
    if isinstance(model, Task) and model.task_kind == kind:
        return None
    return TASK_CLASSES[kind]


class Task(keras.Model):
    """A backbone with a head; see `DistilBertMaskedLM`, `DistilBertTextClassifier`.

    Subclasses set `task_kind` ("masked_lm" or "classifier") and implement
    `head_weights` (name -> variable, in our layouts) and `head_config`.
    """

    task_kind = ""

    def __call__(self, inputs, *args, **kwargs):
        if isinstance(inputs, Mapping) and not isinstance(inputs, dict):
            inputs = dict(inputs)  # an Encoding; Keras's tree wants a dict
        return super().__call__(inputs, *args, **kwargs)

    def head_layers(self) -> dict[str, keras.layers.Layer]:
        """The head's quantizable layers by name (their policy is saved)."""
        raise NotImplementedError

    def head_weights(self) -> dict[str, Any]:
        """The head's variables by name, the names presets use."""
        raise NotImplementedError

    def quantize(self, mode=None, config=None, filters=None, **kwargs) -> None:
        """Quantize the backbone (as `DistilBertBackbone.quantize`) and the head.

        The head's dense layers are quantized too; a masked-LM head's output
        projection is the backbone's token table, quantized with it.

        Examples:
        ```python
        classifier.quantize("int8")
        classifier.save("classifier_int8.keras")
        ```
        """
        self.backbone.quantize(mode, config=config, filters=filters, **kwargs)
        for layer in self.head_layers().values():
            if _chosen(layer, filters):
                layer.quantize(mode, config=config)
        # Keras rebuilds its train / predict functions after quantizing.
        self.train_function = self.test_function = self.predict_function = None

    @property
    def quantization_modes(self) -> tuple[str, ...]:
        """The quantization modes of backbone and head, e.g. ("int8",)."""
        modes = set(self.backbone.quantization_modes)
        modes |= {layer.quantization_mode for layer in self.head_layers().values()}
        return tuple(sorted(mode for mode in modes if mode))

    def _head_dtype(self):
        """None, or a DTypePolicyMap of the quantized head layers by name."""
        quantized = {
            name: layer.dtype_policy
            for name, layer in self.head_layers().items()
            if layer.quantization_mode is not None
        }
        if not quantized:
            return None
        policies = DTypePolicyMap(default_policy=self.backbone.dtype_policy)
        for name, policy in quantized.items():
            policies[name] = policy
        return keras.dtype_policies.serialize(policies)

    def base_config(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "trainable": self.trainable,
            "backbone": keras.layers.serialize(self.backbone),
            "dtype": self._head_dtype(),
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]):
        config = dict(config)
        backbone = config["backbone"]
        if isinstance(backbone, dict):
            config["backbone"] = keras.layers.deserialize(backbone)
        return cls(**config)

    @classmethod
    def from_preset(
        cls,
        preset: str | os.PathLike,
        load_weights: bool = True,
        allow_pickle: bool = False,
        progress: Callable[[str, int, int], None] | None = None,
        **kwargs,
    ):
        """Build this task from a preset: backbone and head.

        The preset is what `DistilBertBackbone.from_preset` reads (a local
        directory, `kaggle://...`, `hf://...`): a keras-hub task preset
        (`task.json`, `task.weights.h5`) or a Hugging Face checkpoint with
        this task's head. A classifier given `num_classes` gets a new random
        head on the preset's backbone (as in keras-hub), whatever the preset
        holds.

        Args:
            preset: str or os.PathLike. Where the config and weights are.
            load_weights: bool. If False, random weights of that config.
            allow_pickle: bool. Also read `pytorch_model.bin`.
            progress: callable or None. `progress(step, done, total)`.
            **kwargs: constructor arguments of this task, and `dtype` for
                the backbone.

        Examples:
        ```python
        classifier = DistilBertTextClassifier.from_preset("./sst2_checkpoint")
        classifier.class_names  # ("NEGATIVE", "POSITIVE")
        ```
        """
        from distil_explorer.tasks.presets import load_task

        return load_task(
            cls,
            preset,
            load_weights=load_weights,
            allow_pickle=allow_pickle,
            progress=progress,
            **kwargs,
        )

    def save_to_preset(self, preset_dir: str | os.PathLike) -> None:
        """Save as a keras-hub task preset (backbone files + task.json/.weights.h5).

        keras-hub 0.32's task class of the same name loads it with
        `from_preset(preset_dir)`; so does ours.

        Examples:
        ```python
        classifier.save_to_preset("./my_classifier")
        DistilBertTextClassifier.from_preset("./my_classifier")
        ```
        """
        from distil_explorer.weights.task_loading import save_task

        save_task(self, preset_dir)
