"""The two layers of a DistilBERT encoder: embeddings and the encoder layer.

Weights live in ordinary Keras sublayers (`Embedding`, `Dense`,
`LayerNormalization`), so initialisers, dtype policies, `count_params` and
saving work as everywhere in Keras. The hot path reads those variables
directly with `keras.ops` instead of calling each sublayer: a Keras
`Layer.__call__` costs tens of microseconds, which at batch 1 is a visible
share of a forward pass. The capture path reads the very same variables.
"""

from __future__ import annotations

import keras
from keras import ops

LAYER_NORM_EPSILON = 1e-12


def _initializer() -> keras.initializers.Initializer:
    return keras.initializers.TruncatedNormal(stddev=0.02)


def _dense(x, layer: keras.layers.Dense):
    return ops.add(ops.matmul(x, layer.kernel), layer.bias)


def _layer_norm(x, layer: keras.layers.LayerNormalization):
    # Normalisation statistics are computed in float32 whatever the policy.
    y = ops.layer_normalization(
        ops.cast(x, "float32"),
        ops.cast(layer.gamma, "float32"),
        ops.cast(layer.beta, "float32"),
        epsilon=LAYER_NORM_EPSILON,
    )
    return ops.cast(y, x.dtype)


class DistilBertEmbeddings(keras.layers.Layer):
    """Learned token + position embeddings, then LayerNorm and dropout.

    Args:
        vocabulary_size: int. Rows of the token embedding table.
        max_sequence_length: int. Rows of the position embedding table.
        hidden_dim: int. Width of both tables.
        dropout: float. Dropout applied to the normalised sum in training.
    """

    def __init__(
        self,
        vocabulary_size: int,
        max_sequence_length: int,
        hidden_dim: int,
        dropout: float,
        **kwargs,
    ):
        super().__init__(**kwargs)
        policy = self.dtype_policy
        self.token_embedding = keras.layers.Embedding(
            vocabulary_size,
            hidden_dim,
            embeddings_initializer=_initializer(),
            dtype=policy,
            name="token_embedding",
        )
        self.position_embedding = keras.layers.Embedding(
            max_sequence_length,
            hidden_dim,
            embeddings_initializer=_initializer(),
            dtype=policy,
            name="position_embedding",
        )
        self.layer_norm = keras.layers.LayerNormalization(
            epsilon=LAYER_NORM_EPSILON, dtype=policy, name="layer_norm"
        )
        self.dropout = keras.layers.Dropout(dropout, dtype=policy, name="dropout")
        self.hidden_dim = hidden_dim

    def build(self, input_shape):
        self.token_embedding.build(input_shape)
        self.position_embedding.build(input_shape)
        self.layer_norm.build((*input_shape, self.hidden_dim))
        self.built = True

    def call(self, token_ids, training=None):
        length = ops.shape(token_ids)[1]
        tokens = ops.take(self.token_embedding.embeddings, token_ids, axis=0)
        positions = self.position_embedding.embeddings[:length]
        x = _layer_norm(ops.add(tokens, positions), self.layer_norm)
        if training and self.dropout.rate:
            x = self.dropout(x, training=training)
        return x

    def compute_output_spec(self, token_ids, training=None):
        return keras.KerasTensor(
            (*token_ids.shape, self.hidden_dim), dtype=self.compute_dtype
        )


class DistilBertEncoderLayer(keras.layers.Layer):
    """One post-LayerNorm transformer encoder layer of DistilBERT.

    `x -> LN(x + Attention(x)) -> LN(. + FFN(.))`, with exact GELU in the
    feed-forward network. Called with `return_attention=True` it also returns
    the softmax attention probabilities `(B, num_heads, T, T)`; padding keys
    get exactly 0 and every query row sums to 1 over the real keys.

    Args:
        num_heads: int. Number of attention heads.
        hidden_dim: int. Width of the layer input and output.
        intermediate_dim: int. Width of the feed-forward hidden layer.
        dropout: float. Dropout on attention probabilities and on both
            residual branches, in training only.
    """

    def __init__(
        self,
        num_heads: int,
        hidden_dim: int,
        intermediate_dim: int,
        dropout: float,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.num_heads = num_heads
        self.hidden_dim = hidden_dim
        self.head_dim = hidden_dim // num_heads
        self.intermediate_dim = intermediate_dim
        self.rate = dropout
        policy = self.dtype_policy

        def dense(units, name):
            return keras.layers.Dense(
                units, kernel_initializer=_initializer(), dtype=policy, name=name
            )

        def layer_norm(name):
            return keras.layers.LayerNormalization(
                epsilon=LAYER_NORM_EPSILON, dtype=policy, name=name
            )

        self.query = dense(hidden_dim, "query")
        self.key = dense(hidden_dim, "key")
        self.value = dense(hidden_dim, "value")
        self.attention_output = dense(hidden_dim, "attention_output")
        self.attention_layer_norm = layer_norm("attention_layer_norm")
        self.ffn_intermediate = dense(intermediate_dim, "ffn_intermediate")
        self.ffn_output = dense(hidden_dim, "ffn_output")
        self.ffn_layer_norm = layer_norm("ffn_layer_norm")
        self.dropout = keras.layers.Dropout(dropout, dtype=policy, name="dropout")

    def build(self, input_shape):
        hidden_shape = (None, None, self.hidden_dim)
        for layer in (self.query, self.key, self.value, self.attention_output):
            layer.build(hidden_shape)
        self.attention_layer_norm.build(hidden_shape)
        self.ffn_intermediate.build(hidden_shape)
        self.ffn_output.build((None, None, self.intermediate_dim))
        self.ffn_layer_norm.build(hidden_shape)
        self.built = True

    def _heads(self, x, layer):
        # (B, T, hidden) -> (B, T, num_heads, head_dim), the layout of
        # keras.ops.dot_product_attention.
        batch, length = ops.shape(x)[0], ops.shape(x)[1]
        return ops.reshape(
            _dense(x, layer), (batch, length, self.num_heads, self.head_dim)
        )

    def _attention_probabilities(self, query, key, padding_mask, training):
        scores = ops.matmul(
            ops.transpose(query, (0, 2, 1, 3)), ops.transpose(key, (0, 2, 3, 1))
        )
        scores = ops.cast(scores, "float32") * (self.head_dim**-0.5)
        keep = ops.cast(padding_mask, "bool")[:, None, None, :]
        # A large finite negative, not -inf: an all-padding row (only reachable
        # when validation is skipped while tracing) gives uniform weights, not
        # NaN. Real rows still get exactly 0 on padding keys (exp underflows).
        probabilities = ops.softmax(ops.where(keep, scores, -1e9), axis=-1)
        if training and self.rate:
            return probabilities, self.dropout(probabilities, training=training)
        return probabilities, probabilities

    def call(self, x, padding_mask, training=None, return_attention=False):
        batch, length = ops.shape(x)[0], ops.shape(x)[1]
        query = self._heads(x, self.query)
        key = self._heads(x, self.key)
        value = self._heads(x, self.value)
        explicit = return_attention or (training and self.rate)
        if explicit:
            probabilities, weights = self._attention_probabilities(
                query, key, padding_mask, training
            )
            context = ops.matmul(
                ops.cast(weights, value.dtype), ops.transpose(value, (0, 2, 1, 3))
            )
            context = ops.transpose(context, (0, 2, 1, 3))
        else:
            keep = ops.cast(padding_mask, "bool")[:, None, None, :]
            context = ops.dot_product_attention(query, key, value, mask=keep)
        context = ops.reshape(context, (batch, length, self.hidden_dim))

        attended = _dense(context, self.attention_output)
        if training and self.rate:
            attended = self.dropout(attended, training=training)
        x = _layer_norm(ops.add(x, attended), self.attention_layer_norm)

        hidden = ops.gelu(_dense(x, self.ffn_intermediate), approximate=False)
        hidden = _dense(hidden, self.ffn_output)
        if training and self.rate:
            hidden = self.dropout(hidden, training=training)
        x = _layer_norm(ops.add(x, hidden), self.ffn_layer_norm)
        if return_attention:
            return x, probabilities
        return x

    def compute_output_spec(
        self, x, padding_mask, training=None, return_attention=False
    ):
        out = keras.KerasTensor(x.shape, dtype=self.compute_dtype)
        if not return_attention:
            return out
        batch, length = x.shape[0], x.shape[1]
        shape = (batch, self.num_heads, length, length)
        return out, keras.KerasTensor(shape, dtype="float32")

    def get_config(self):
        config = super().get_config()
        config.update(
            num_heads=self.num_heads,
            hidden_dim=self.hidden_dim,
            intermediate_dim=self.intermediate_dim,
            dropout=self.rate,
        )
        return config
