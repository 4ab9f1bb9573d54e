"""`DistilBertBackbone`: the KerasNLP/keras-hub DistilBERT encoder API."""

from __future__ import annotations

import re
import weakref
from collections.abc import Callable, Mapping
from typing import Any

import keras

from distil_explorer.config import backbone_presets, check_config
from distil_explorer.model import kernels
from distil_explorer.model.initialization import skip_initialization
from distil_explorer.model.layers import DistilBertEmbeddings, DistilBertEncoderLayer
from distil_explorer.model.validation import check_inputs

DTypePolicyMap = keras.dtype_policies.DTypePolicyMap
# backbone -> its sublayers (`DistilBertBackbone._sublayers`); weak, so the
# cache never keeps a model alive.
_SUBLAYERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _policy_of(layer) -> keras.DTypePolicy:
    """A layer's own policy (a layer built with a map holds the whole map)."""
    policy = layer.dtype_policy
    if isinstance(policy, DTypePolicyMap) and layer.path:
        return policy[layer.path]
    return policy


@keras.saving.register_keras_serializable(package="distil_explorer")
class DistilBertBackbone(keras.Model):
    """A DistilBERT encoder network.

    This network implements a bi-directional Transformer-based encoder as
    described in "DistilBERT, a distilled version of BERT: smaller, faster,
    cheaper and lighter". It includes the embedding lookups and transformer
    layers, but not the masked language model or classification heads.

    The default constructor gives a fully customizable, randomly initialized
    DistilBERT encoder with any number of layers, heads and embedding
    dimensions. To load preset architectures and weights, use
    `from_preset()`. To look inside a forward pass, pass the backbone to
    `distil_explorer.capture`.

    Args:
        vocabulary_size: int. The size of the token vocabulary.
        num_layers: int. The number of transformer layers.
        num_heads: int. The number of attention heads for each transformer.
            The hidden size must be divisible by the number of heads.
        hidden_dim: int. The size of the transformer encoding layers.
        intermediate_dim: int. The output dimension of the first Dense layer
            in the two-layer feedforward network of each transformer.
        dropout: float. Dropout probability for the Transformer encoder.
        max_sequence_length: int. The maximum sequence length this encoder can
            consume; it sets the shape of the position embedding table.
        dtype: None, str, `keras.DTypePolicy` or `keras.dtype_policies.
            DTypePolicyMap`. The dtype for computations and weights:
            "float32", "float16", "bfloat16", "mixed_float16" or
            "mixed_bfloat16"; a map gives sublayers (by path, e.g.
            "transformer_layer_0/query") their own policy, quantized ones
            included (that is how a quantized backbone's config rebuilds
            it). Softmax and layer normalization always run in float32.

    Examples:
    ```python
    input_data = {
        "token_ids": np.ones(shape=(1, 12), dtype="int32"),
        "padding_mask": np.array([[1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0]]),
    }

    # The backbone takes a tokenizer's Encoding (a Mapping) as it is.
    model(tokenizer(["The quick brown fox."]))

    # Randomly initialized DistilBERT encoder with custom config.
    model = distil_explorer.DistilBertBackbone(
        vocabulary_size=30552,
        num_layers=4,
        num_heads=4,
        hidden_dim=256,
        intermediate_dim=512,
        max_sequence_length=128,
    )
    model(input_data)

    # A built-in preset's architecture with random weights.
    model = distil_explorer.DistilBertBackbone.from_preset(
        "distil_bert_base_en_uncased", load_weights=False
    )

    # int8 weights (and activations) in every projection and embedding;
    # `.keras` files and `capture` work on the quantized model too.
    model.quantize("int8")
    model.save("distil_bert_int8.keras")
    ```
    """

    presets = backbone_presets

    def __init__(
        self,
        vocabulary_size: int,
        num_layers: int,
        num_heads: int,
        hidden_dim: int,
        intermediate_dim: int,
        dropout: float = 0.1,
        max_sequence_length: int = 512,
        dtype: Any = None,
        **kwargs,
    ):
        config = check_config(
            vocabulary_size,
            num_layers,
            num_heads,
            hidden_dim,
            intermediate_dim,
            dropout,
            max_sequence_length,
            dtype,
        )

        # === Layers ===
        # Locals until super().__init__: on the torch backend every layer is a
        # torch.nn.Module, which cannot be assigned before Module.__init__.
        embeddings = DistilBertEmbeddings(
            vocabulary_size=config["vocabulary_size"],
            max_sequence_length=config["max_sequence_length"],
            hidden_dim=config["hidden_dim"],
            dropout=config["dropout"],
            dtype=dtype,
            name="embeddings",
        )
        transformer_layers = [
            DistilBertEncoderLayer(
                num_heads=config["num_heads"],
                hidden_dim=config["hidden_dim"],
                intermediate_dim=config["intermediate_dim"],
                dropout=config["dropout"],
                dtype=dtype,
                name=f"transformer_layer_{i}",
            )
            for i in range(config["num_layers"])
        ]

        # === Functional graph ===
        token_ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
        padding_mask = keras.Input(shape=(None,), dtype="int32", name="padding_mask")
        x = embeddings(token_ids)
        for layer in transformer_layers:
            x = layer(x, padding_mask)
        super().__init__(
            inputs={"token_ids": token_ids, "padding_mask": padding_mask},
            outputs=x,
            **kwargs,
        )
        # Functional drops `dtype`; the sublayers already carry the policy,
        # this makes the model report it too (and get_config save it).
        self.dtype_policy = keras.dtype_policies.get(dtype)

        # === Config ===
        self.embeddings = embeddings
        self.transformer_layers = transformer_layers
        self.vocabulary_size = config["vocabulary_size"]
        self.num_layers = config["num_layers"]
        self.num_heads = config["num_heads"]
        self.hidden_dim = config["hidden_dim"]
        self.intermediate_dim = config["intermediate_dim"]
        self.dropout = config["dropout"]
        self.max_sequence_length = config["max_sequence_length"]

    def __call__(self, inputs, *args, **kwargs):
        if isinstance(inputs, Mapping) and not isinstance(inputs, dict):
            inputs = dict(inputs)  # an Encoding; Keras's tree wants a dict
        check_inputs(inputs, self.vocabulary_size, self.max_sequence_length)
        return super().__call__(inputs, *args, **kwargs)

    def call(self, inputs, training=None, mask=None):
        symbolic = not isinstance(inputs, Mapping) or any(
            isinstance(value, keras.KerasTensor) for value in inputs.values()
        )
        if symbolic or not self._calls_layers_directly():
            return super().call(inputs, training=training, mask=mask)
        # The functional graph's layers, in its order, without each one's
        # Layer.__call__ (see `_calls_layers_directly`).
        token_ids, padding_mask = (
            keras.ops.cast(keras.ops.convert_to_tensor(inputs[key]), "int32")
            for key in ("token_ids", "padding_mask")
        )
        with kernels.direct_reads():
            x = self.embeddings.call(token_ids, training=training)
            for layer in self.transformer_layers:
                x = layer.call(x, padding_mask, training=training)
        return x

    def _calls_layers_directly(self) -> bool:
        """Whether eager calls may run each layer's `call` without `__call__`.

        Keras's `Layer.__call__` costs 0.2-0.3 ms per layer on torch
        (argument binding, input casts, tree walks, torch Module hooks):
        about 5% of a B=1, T=128 forward pass, in the plain call and in
        `capture` alike. Run eagerly on torch, a built layer whose inputs
        already have its dtype needs none of it, unless an autocast scope is
        due: compute and variable dtypes must agree (not a mixed policy, not
        a per-layer map). Quantized sublayers still go through their own
        `__call__` (`Linear.project`).
        """
        if keras.backend.backend() != "torch":
            return False
        for layer in (self.embeddings, *self.transformer_layers):
            policy = layer.dtype_policy
            if (
                not layer.built
                or isinstance(policy, DTypePolicyMap)
                or policy.compute_dtype != policy.variable_dtype
            ):
                return False
        return True

    def quantize(self, mode=None, config=None, filters=None, **kwargs) -> None:
        """Quantize every projection and embedding table in place.

        Keras's `Model.quantize`, limited to the layers keras-hub's
        DistilBERT quantizes: every projection (`Linear` is a `Dense`) and
        the token embedding table. Layer norms and the position table stay
        float, and nothing warns about them. Modes: "int8"
        (per-channel weights, per-token activations), "int4" and "float8";
        see `keras.Model.quantize` for `config` and `filters`.

        Examples:
        ```python
        backbone = DistilBertBackbone.from_preset("all_minilm_l6_v2_en")
        backbone.quantize("int8")
        trace = distil_explorer.capture(backbone, tokenizer(["Hello"]))
        ```
        """
        quantizable = (keras.layers.Dense, keras.layers.Embedding)

        patterns = [filters] if isinstance(filters, str) else filters

        positions = self.embeddings.position_embedding
        if (mode or getattr(config, "mode", None)) == "float8":
            quantizable = keras.layers.Dense  # Embedding has no float8 mode

        def chosen(layer) -> bool:  # Keras's own filter rules, then ours
            if not isinstance(layer, quantizable) or layer is positions:
                return False
            if patterns is None:
                return True
            if callable(patterns):
                return bool(patterns(layer))
            return any(re.search(pattern, layer.name) for pattern in patterns)

        super().quantize(mode, config=config, filters=chosen, **kwargs)

    @property
    def quantization_modes(self) -> tuple[str, ...]:
        """The quantization modes of the sublayers, e.g. ("int8",); () if none."""
        modes = {_policy_of(layer).quantization_mode for layer in self._sublayers()}
        return tuple(sorted(mode for mode in modes if mode))

    def _sublayers(self) -> tuple:
        """Every layer inside, found once: a functional model's layers are
        fixed when it is built, and Keras's recursive walk cost more than
        the rest of a small model's Trace bookkeeping (every capture asks
        `quantization_modes` for the Trace's dtype)."""
        layers = _SUBLAYERS.get(self)
        if layers is None:
            layers = tuple(
                layer for layer in self._flatten_layers() if layer is not self
            )
            _SUBLAYERS[self] = layers
        return layers

    def _config_policy(self):
        """The policy `get_config` saves: a map when any sublayer is quantized.

        As keras-hub's backbones do: a quantized layer's policy is recorded
        under its path, so `from_config` builds it quantized and a `.keras`
        file's quantized variables load into it.
        """
        policy = self.dtype_policy
        quantized = {
            layer.path: _policy_of(layer)
            for layer in self._sublayers()
            if _policy_of(layer).quantization_mode is not None
        }
        if not quantized and not isinstance(policy, DTypePolicyMap):
            return policy
        if isinstance(policy, DTypePolicyMap):
            policy_map = keras.dtype_policies.deserialize(
                keras.dtype_policies.serialize(policy)
            )
        else:
            policy_map = DTypePolicyMap(default_policy=policy)
        for path, layer_policy in quantized.items():
            if path not in policy_map:
                policy_map[path] = layer_policy
        return policy_map

    @property
    def token_embedding(self) -> keras.layers.Embedding:
        """A `keras.layers.Embedding` instance for embedding token ids."""
        return self.embeddings.token_embedding

    def get_config(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "trainable": self.trainable,
            "dtype": keras.dtype_policies.serialize(self._config_policy()),
            "vocabulary_size": self.vocabulary_size,
            "num_layers": self.num_layers,
            "num_heads": self.num_heads,
            "hidden_dim": self.hidden_dim,
            "intermediate_dim": self.intermediate_dim,
            "dropout": self.dropout,
            "max_sequence_length": self.max_sequence_length,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> DistilBertBackbone:
        config = dict(config)
        if isinstance(config.get("dtype"), dict):
            config["dtype"] = keras.dtype_policies.deserialize(config["dtype"])
        return cls(**config)

    @classmethod
    def from_preset(
        cls,
        preset: str,
        load_weights: bool = True,
        allow_pickle: bool = False,
        progress: Callable[[str, int, int], None] | None = None,
        **kwargs,
    ) -> DistilBertBackbone:
        """Instantiate a backbone from a preset.

        A preset is a built-in name (`cls.presets.keys()`), a Kaggle Models
        handle (`kaggle://owner/model/framework/variation[/version]`), a
        Hugging Face handle (`hf://owner/repo`), or a local directory in
        keras-hub or Hugging Face transformers format.

        Args:
            preset: str. Where the config and weights come from.
            load_weights: bool. If False, the preset's config is built with
                random weights and no weights file is read.
            allow_pickle: bool. Also read `pytorch_model.bin` (pickle) when a
                transformers checkpoint has no safetensors. Only for files
                you trust.
            progress: callable or None. `progress(step, done, total)` is told
                each step in words (downloading, reading, building, loading
                weights in bytes) instead of drawing a tqdm bar.
            **kwargs: overrides for the config, e.g. `dtype="bfloat16"`.

        Examples:
        ```python
        model = DistilBertBackbone.from_preset(
            "distil_bert_base_en_uncased", load_weights=False
        )
        ```
        """
        from distil_explorer.weights.loading import load_backbone

        def build_for_weights(**config: Any) -> DistilBertBackbone:
            with skip_initialization():  # loaded weights overwrite them
                return cls(**config)

        return load_backbone(
            cls,
            preset,
            load_weights=load_weights,
            allow_pickle=allow_pickle,
            progress=progress,
            build_for_weights=build_for_weights,
            **kwargs,
        )

    def save_to_preset(self, preset_dir: str) -> None:
        """Save config and weights as a keras-hub preset directory.

        keras-hub's own `DistilBertBackbone.from_preset(preset_dir)` loads it.
        Existing tokenizer files in `preset_dir` are kept.

        Examples:
        ```python
        backbone.save_to_preset("./my_preset")
        DistilBertBackbone.from_preset("./my_preset")
        ```
        """
        if self.quantization_modes:
            raise ValueError(
                f"preset_dir={preset_dir!r}: this backbone is quantized "
                f"({', '.join(self.quantization_modes)}), and a keras-hub preset "
                "holds float weights; allowed: save the float backbone and "
                'quantize after loading, or model.save("backbone.keras")'
            )
        from distil_explorer.weights.loading import save_backbone

        save_backbone(self, preset_dir)
