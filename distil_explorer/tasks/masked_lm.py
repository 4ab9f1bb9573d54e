"""`DistilBertMaskedLM`: a backbone and keras-hub's masked-LM head."""

from __future__ import annotations

from typing import Any

import keras

from distil_explorer.model.heads import KERAS_HUB_EPSILON, MaskedLMHead
from distil_explorer.tasks.task import Task, checked_backbone, head_policy


@keras.saving.register_keras_serializable(package="distil_explorer")
class DistilBertMaskedLM(Task):
    """An end-to-end DistilBERT model for the masked language modeling task.

    The backbone's last hidden states at `mask_positions` go through a dense
    layer, GELU and a LayerNorm, then through the backbone's own token
    embedding table (transposed, tied) plus a bias: logits over the
    vocabulary, `(B, P, vocabulary_size)`. The same layers and inputs as
    keras-hub's `DistilBertMaskedLM`; `predict_masked` reads them as top-k
    tokens and `layer_predictions` applies the head to every layer.

    Args:
        backbone: `DistilBertBackbone`. The encoder.
        layer_norm_epsilon: float. The head LayerNorm's epsilon: keras-hub's
            1e-5 by default; Hugging Face checkpoints load with their 1e-12.

    Examples:
    ```python
    masked_lm = distil_explorer.DistilBertMaskedLM(backbone)
    logits = masked_lm({
        "token_ids": np.array([[101, 103, 102]]),
        "padding_mask": np.ones((1, 3), "int32"),
        "mask_positions": np.array([[1]]),
    })  # (1, 1, vocabulary_size)
    masked_lm.fit(inputs, labels)  # labels: (B, P) token ids
    ```
    """

    task_kind = "masked_lm"

    def __init__(
        self,
        backbone,
        layer_norm_epsilon: float = KERAS_HUB_EPSILON,
        **kwargs,
    ):
        backbone = checked_backbone(backbone, "DistilBertMaskedLM")
        dtype = kwargs.pop("dtype", None)
        kwargs.setdefault("name", "distil_bert_masked_lm")

        # === Layers ===
        masked_lm_head = MaskedLMHead(
            backbone.token_embedding,
            layer_norm_epsilon=layer_norm_epsilon,
            intermediate_dtype=head_policy(
                dtype, "intermediate_dense", backbone.dtype_policy
            ),
            dtype=backbone.dtype_policy,
            name="mlm_head",
        )

        # === Functional graph ===
        inputs = {
            **backbone.input,
            "mask_positions": keras.Input(
                shape=(None,), dtype="int32", name="mask_positions"
            ),
        }
        hidden = backbone(backbone.input)
        outputs = masked_lm_head(hidden, inputs["mask_positions"])
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)

        # === Config ===
        self.backbone = backbone
        self.masked_lm_head = masked_lm_head
        self.layer_norm_epsilon = float(layer_norm_epsilon)

    def head_layers(self) -> dict[str, keras.layers.Layer]:
        return {"intermediate_dense": self.masked_lm_head.intermediate_dense}

    def head_weights(self) -> dict[str, Any]:
        head = self.masked_lm_head
        dense, norm = head.intermediate_dense, head.intermediate_layer_norm
        return {
            "intermediate_dense/kernel": dense.kernel
            if dense.quantization_mode
            else dense._kernel,
            "intermediate_dense/bias": dense.bias,
            "intermediate_layer_norm/gamma": norm.gamma,
            "intermediate_layer_norm/beta": norm.beta,
            "output_bias": head.output_bias,
        }

    def logits_from_hidden(self, vectors):
        """Logits `(..., vocabulary_size)` for hidden vectors `(..., hidden_dim)`.

        The head alone: what the model predicts from any layer's states.

        Examples:
        ```python
        logits = masked_lm.logits_from_hidden(trace.hidden_states[3][0])
        ```
        """
        return self.masked_lm_head.project(vectors)

    def get_config(self) -> dict[str, Any]:
        return {**self.base_config(), "layer_norm_epsilon": self.layer_norm_epsilon}
