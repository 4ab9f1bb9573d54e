"""`DistilBertTextClassifier`: a backbone and keras-hub's classifier head."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from distil_explorer.model.layers import Linear
from distil_explorer.tasks.task import Task, checked_backbone, head_policy

POOLED_ACTIVATIONS = ("relu", "tanh")


def _checked_args(num_classes, dropout, pooled_activation, class_names):
    if isinstance(num_classes, bool) or not isinstance(num_classes, int):
        raise ValueError(f"num_classes={num_classes!r}: allowed: an int >= 1")
    if num_classes < 1:
        raise ValueError(f"num_classes={num_classes}: allowed: an int >= 1")
    if not isinstance(dropout, (int, float)) or not 0 <= dropout < 1:
        raise ValueError(f"dropout={dropout!r}: allowed: a float in [0, 1)")
    if pooled_activation not in POOLED_ACTIVATIONS:
        raise ValueError(
            f"pooled_activation={pooled_activation!r}: allowed: "
            f"{', '.join(POOLED_ACTIVATIONS)} (tanh: BERT's pooler)"
        )
    if class_names is None:
        return None
    names = tuple(class_names)
    if len(names) != num_classes or not all(isinstance(n, str) for n in names):
        raise ValueError(
            f"class_names={names!r}: allowed: {num_classes} strings, one per class"
        )
    return names


@keras.saving.register_keras_serializable(package="distil_explorer")
class DistilBertTextClassifier(Task):
    """An end-to-end DistilBERT model for classification tasks.

    The backbone's last hidden state at [CLS] (position 0) goes through a
    dense layer with ReLU, dropout and a dense layer to `num_classes`
    logits: the layers and inputs of keras-hub's `DistilBertTextClassifier`
    and of Hugging Face's `DistilBertForSequenceClassification`. A BERT
    checkpoint's pooler runs the same graph with tanh.

    Args:
        backbone: `DistilBertBackbone`. The encoder.
        num_classes: int. Number of classes.
        activation: None, str or callable. Applied to the outputs: None
            (logits, the default) or "softmax".
        hidden_dim: int or None. Width of the pooled dense layer; None: the
            backbone's hidden_dim.
        dropout: float. Dropout before the last layer, in training.
        class_names: None or one str per class, e.g. ("negative",
            "positive") (a checkpoint's `id2label`). Saved with the model.
        pooled_activation: "relu" (DistilBERT) or "tanh" (BERT's pooler).

    Examples:
    ```python
    classifier = distil_explorer.DistilBertTextClassifier(
        backbone, num_classes=2, class_names=("no", "yes")
    )
    classifier.fit(tokenizer(texts), labels, epochs=3)
    distil_explorer.classify(classifier, "Not bad at all.", tokenizer=tokenizer)
    ```
    """

    task_kind = "classifier"

    def __init__(
        self,
        backbone,
        num_classes: int,
        activation: Any = None,
        hidden_dim: int | None = None,
        dropout: float = 0.2,
        class_names: Any = None,
        pooled_activation: str = "relu",
        **kwargs,
    ):
        backbone = checked_backbone(backbone, "DistilBertTextClassifier")
        class_names = _checked_args(
            num_classes, dropout, pooled_activation, class_names
        )
        dtype = kwargs.pop("dtype", None)
        kwargs.setdefault("name", "distil_bert_text_classifier")
        hidden_dim = hidden_dim or backbone.hidden_dim
        policy = backbone.dtype_policy

        # === Layers ===
        pooled_dense = Linear(
            hidden_dim,
            dtype=head_policy(dtype, "pooled_dense", policy),
            name="pooled_dense",
        )
        output_dropout = keras.layers.Dropout(
            dropout, dtype=policy, name="output_dropout"
        )
        output_dense = Linear(
            num_classes, dtype=head_policy(dtype, "logits", policy), name="logits"
        )
        final = keras.activations.get(activation)

        # === Functional graph ===
        inputs = backbone.input
        x = backbone(inputs)[:, 0, :]
        x = _pooled(pooled_dense(x), pooled_activation)
        x = output_dropout(x)
        outputs = final(output_dense(x))
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)

        # === Config ===
        self.backbone = backbone
        self.pooled_dense = pooled_dense
        self.output_dropout = output_dropout
        self.output_dense = output_dense
        self.num_classes = num_classes
        self.activation = final
        self.hidden_dim = hidden_dim
        self.dropout = dropout
        self.class_names = class_names
        self.pooled_activation = pooled_activation

    def head_layers(self) -> dict[str, keras.layers.Layer]:
        return {"pooled_dense": self.pooled_dense, "logits": self.output_dense}

    def head_weights(self) -> dict[str, Any]:
        weights = {}
        for name, layer in self.head_layers().items():
            kernel = layer.kernel if layer.quantization_mode else layer._kernel
            weights[f"{name}/kernel"] = kernel
            weights[f"{name}/bias"] = layer.bias
        return weights

    def logits_from_hidden(self, hidden):
        """Logits `(B, num_classes)` from last hidden states `(B, T, hidden_dim)`.

        Inference (no dropout), before `activation`: what `class_target`
        differentiates.

        Examples:
        ```python
        logits = classifier.logits_from_hidden(classifier.backbone(inputs))
        ```
        """
        x = _pooled(self.pooled_dense.project(hidden[:, 0, :]), self.pooled_activation)
        return self.output_dense.project(x)

    def get_config(self) -> dict[str, Any]:
        return {
            **self.base_config(),
            "num_classes": self.num_classes,
            "activation": keras.activations.serialize(self.activation),
            "hidden_dim": self.hidden_dim,
            "dropout": self.dropout,
            "class_names": None if self.class_names is None else list(self.class_names),
            "pooled_activation": self.pooled_activation,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]):
        config = dict(config)
        if isinstance(config.get("activation"), (dict, str)):
            config["activation"] = keras.activations.deserialize(config["activation"])
        return super().from_config(config)


def _pooled(x, activation: str):
    return ops.relu(x) if activation == "relu" else ops.tanh(x)
