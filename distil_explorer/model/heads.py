"""Task heads' layers: the masked-LM head, tied to the token embedding table.

The classifier needs no layer of its own (a dense, dropout and a dense on
the [CLS] state are plain Keras layers in `DistilBertTextClassifier`'s
graph); the masked-LM head is one layer because the layer lens applies it,
by itself, to every layer's hidden states (`project`).
"""

from __future__ import annotations

import keras
from keras import ops

from distil_explorer.model.layers import Linear

# keras-hub's MaskedLMHead default; Hugging Face heads use 1e-12.
KERAS_HUB_EPSILON = 1e-5


@keras.saving.register_keras_serializable(package="distil_explorer")
class MaskedLMHead(keras.layers.Layer):
    """Dense + GELU + LayerNorm, then the token embedding table, transposed.

    `call(hidden, mask_positions)` gathers the hidden states at the given
    positions and returns logits `(B, P, vocabulary_size)`; `project(x)`
    does the same for vectors already gathered, `(..., hidden_dim)`.
    The output projection is the backbone's own token embedding table (tied,
    as in keras-hub and Hugging Face); the head adds only its dense layer,
    its LayerNorm and an output bias.

    Args:
        token_embedding: keras.layers.Embedding. The backbone's token table.
        layer_norm_epsilon: float. The LayerNorm's epsilon (keras-hub: 1e-5,
            Hugging Face: 1e-12).
        intermediate_dtype: None or a dtype policy for the dense layer (a
            quantized policy rebuilds it quantized).
    """

    def __init__(
        self,
        token_embedding,
        layer_norm_epsilon: float = KERAS_HUB_EPSILON,
        intermediate_dtype=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.token_embedding = token_embedding
        self.vocabulary_size = token_embedding.input_dim
        self.hidden_dim = token_embedding.output_dim
        self.layer_norm_epsilon = float(layer_norm_epsilon)
        self.intermediate_dense = Linear(
            self.hidden_dim,
            dtype=intermediate_dtype or self.dtype_policy,
            name="intermediate_dense",
        )
        self.intermediate_layer_norm = keras.layers.LayerNormalization(
            epsilon=self.layer_norm_epsilon,
            dtype=self.dtype_policy,
            name="intermediate_layer_norm",
        )

    def build(self, hidden_shape, mask_positions_shape=None):
        shape = (None, None, self.hidden_dim)
        self.intermediate_dense.build(shape)
        self.intermediate_layer_norm.build(shape)
        self.output_bias = self.add_weight(
            shape=(self.vocabulary_size,), initializer="zeros", name="output_bias"
        )
        self.built = True

    def call(self, hidden, mask_positions):
        positions = ops.cast(mask_positions, "int32")[..., None]
        return self.project(ops.take_along_axis(hidden, positions, axis=1))

    def project(self, x):
        """Logits `(..., vocabulary_size)` for hidden vectors `(..., hidden_dim)`."""
        return self.vocabulary_logits(self.transform(x))

    def transform(self, x):
        """Dense, GELU and LayerNorm: the head before its vocabulary projection."""
        x = ops.gelu(self.intermediate_dense.project(x), approximate=False)
        return self.intermediate_layer_norm(x)

    def vocabulary_logits(self, x):
        """`x @ table.T + bias`: logits for vectors already `transform`ed."""
        logits = self._reverse(x)
        return ops.add(logits, ops.cast(self.output_bias, logits.dtype))

    def _reverse(self, x):
        """`x @ table.T`, reading a quantized table the way its layer would."""
        table = self.token_embedding
        mode = table.quantization_mode
        if mode is None:
            weights = ops.cast(table.embeddings, x.dtype)
            return ops.matmul(x, ops.transpose(weights))
        if mode == "int8":
            # table = int8 / scale per row: scale the logits, not the table.
            weights = ops.cast(table._embeddings, x.dtype)
            logits = ops.matmul(x, ops.transpose(weights))
            return ops.divide(logits, ops.cast(table.embeddings_scale, x.dtype))
        rows = table(ops.arange(self.vocabulary_size, dtype="int32"))
        return ops.matmul(x, ops.transpose(ops.cast(rows, x.dtype)))

    def compute_output_spec(self, hidden, mask_positions):
        shape = (*mask_positions.shape, self.vocabulary_size)
        return keras.KerasTensor(shape, dtype=self.compute_dtype)

    def get_config(self):
        # Rebuilt by its task model (it needs the backbone's table), never alone.
        return {
            **super().get_config(),
            "layer_norm_epsilon": self.layer_norm_epsilon,
        }
