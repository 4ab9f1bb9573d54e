"""The layers of a DistilBERT encoder: `Linear`, embeddings, encoder layer.

Weights live in Keras sublayers (`Embedding`, `LayerNormalization`, and
`Linear`, a Dense with the torch kernel layout), so initialisers, dtype
policies, `count_params` and saving work as everywhere in Keras. The layers'
`call`s pass those variables' values to `kernels` instead of calling each
sublayer (a Keras `Layer.__call__` costs tens of microseconds); the capture
path reads the very same variables. Once quantized (`model.quantize`), a
sublayer is called through its own (dequantizing) call instead.
"""

from __future__ import annotations

import keras
from keras import ops

from distil_explorer.model import kernels
from distil_explorer.model.initialization import kernel_initializer
from distil_explorer.model.kernels import LAYER_NORM_EPSILON


@keras.saving.register_keras_serializable(package="distil_explorer")
class Linear(keras.layers.Dense):
    """A `keras.layers.Dense` that stores its float kernel as (units, input_dim).

    That is the torch / transformers layout, not `Dense`'s (input_dim, units):
    oneDNN's GEMM runs 1.1x (128 rows) to 1.8x (8 rows) faster with it on CPU,
    and transformers checkpoints load without a transpose. Being a `Dense`,
    it takes part in `model.quantize(mode)`: quantizing first turns the
    kernel into `Dense`'s layout, then runs `Dense.quantize`, so every mode
    Keras's `Dense` supports works, and a quantized `Linear` (built from a
    quantized dtype policy, e.g. when a `.keras` file is loaded) is exactly a
    quantized `Dense`.

    Args:
        units: int. Output width.
        **kwargs: `keras.layers.Dense` arguments (`dtype`, `name`, ...).
    """

    def __init__(self, units: int, **kwargs):
        kwargs.setdefault("kernel_initializer", kernel_initializer())
        super().__init__(units, **kwargs)

    def build(self, input_shape):
        if self.quantization_mode is not None:
            super().build(input_shape)
            return
        self._kernel = self.add_weight(
            shape=(self.units, input_shape[-1]),
            initializer=self.kernel_initializer,
            name="kernel",
        )
        self.bias = self.add_weight(
            shape=(self.units,), initializer=self.bias_initializer, name="bias"
        )
        self.built = True

    def call(self, x, training=None):
        return self._linear(x)

    def project(self, x):
        """`self(x)`, without `Layer.__call__`'s overhead when not quantized."""
        if self.quantization_mode is None:
            return self._linear(x)
        return self(x)

    def _linear(self, x):
        kernel = kernels.read(self._kernel)
        if x.dtype != kernel.dtype:
            # A DTypePolicyMap can give this layer another dtype than its
            # parent's, whose autocast scope `x` comes from.
            x = ops.cast(x, kernel.dtype)
        return kernels.linear(x, kernel, kernels.read(self.bias))

    def quantize(self, mode=None, type_check=True, config=None):
        if self.quantization_mode is None:
            # Dense.quantize reads, and the quantized call multiplies by, a
            # kernel in Dense's (input_dim, units) layout.
            value = ops.transpose(self._kernel.value)
            self._untrack_variable(self._kernel)  # `del` would run gc.collect()
            self._kernel = self.add_weight(
                shape=tuple(value.shape), initializer="zeros", name="kernel"
            )
            self._kernel.assign(value)
        super().quantize(mode, type_check=False, config=config)

    def enable_lora(self, *args, **kwargs):
        raise NotImplementedError(
            "Linear.enable_lora: LoRA is not supported on the (units, input_dim) "
            "kernel layout; allowed: quantize() or plain keras.layers.Dense"
        )

    def compute_output_spec(self, x, training=None):
        return keras.KerasTensor((*x.shape[:-1], self.units), dtype=self.compute_dtype)


def _lookup(embedding: keras.layers.Embedding, ids):
    """`embedding(ids)`; a float table is read directly, skipping `__call__`.

    A quantized table goes through the layer's own call, which dequantizes.
    """
    if embedding.quantization_mode is None:
        return kernels.lookup(kernels.read(embedding.embeddings), ids)
    return embedding(ids)


@keras.saving.register_keras_serializable(package="distil_explorer")
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
        self.vocabulary_size = vocabulary_size
        self.max_sequence_length = max_sequence_length
        self.hidden_dim = hidden_dim
        self.rate = dropout
        policy = self.dtype_policy
        self.token_embedding = keras.layers.Embedding(
            vocabulary_size,
            hidden_dim,
            embeddings_initializer=kernel_initializer(),
            dtype=policy,
            name="token_embedding",
        )
        self.position_embedding = keras.layers.Embedding(
            max_sequence_length,
            hidden_dim,
            embeddings_initializer=kernel_initializer(),
            dtype=policy,
            name="position_embedding",
        )
        self.layer_norm = keras.layers.LayerNormalization(
            epsilon=LAYER_NORM_EPSILON, dtype=policy, name="layer_norm"
        )
        self.dropout = keras.layers.Dropout(dropout, dtype=policy, name="dropout")

    def build(self, input_shape):
        self.token_embedding.build(input_shape)
        self.position_embedding.build(input_shape)
        self.layer_norm.build((*input_shape, self.hidden_dim))
        self.built = True

    def call(self, token_ids, training=None):
        return self.from_token_vectors(
            _lookup(self.token_embedding, token_ids), training=training
        )

    def from_token_vectors(self, tokens, training=None):
        """The output for given token embedding vectors (B, T, hidden_dim).

        `call` is `from_token_vectors(token_table[token_ids])`; attributions
        differentiate with respect to `tokens`, the rows looked up.
        """
        length = ops.shape(tokens)[1]
        table = self.position_embedding
        if table.quantization_mode is None:
            positions = kernels.read(table.embeddings)[:length]
        else:
            positions = table(ops.arange(length, dtype="int32"))
        norm = self.layer_norm
        x = kernels.layer_norm(
            kernels.add(tokens, positions),
            kernels.read(norm.gamma),
            kernels.read(norm.beta),
        )
        if training and self.rate:
            x = self.dropout(x, training=training)
        return x

    def compute_output_spec(self, token_ids, training=None):
        return keras.KerasTensor(
            (*token_ids.shape, self.hidden_dim), dtype=self.compute_dtype
        )

    def get_config(self):
        return {
            **super().get_config(),
            "vocabulary_size": self.vocabulary_size,
            "max_sequence_length": self.max_sequence_length,
            "hidden_dim": self.hidden_dim,
            "dropout": self.rate,
        }


@keras.saving.register_keras_serializable(package="distil_explorer")
class DistilBertEncoderLayer(keras.layers.Layer):
    """One post-LayerNorm transformer encoder layer of DistilBERT.

    `x -> LN(x + Attention(x)) -> LN(. + FFN(.))`, with exact GELU in the
    feed-forward network. The plain call uses fused attention; called with
    `return_attention=True` (the capture path) it computes the softmax
    probabilities explicitly and also returns them, float32
    `(B, num_heads, T, T)`: padding keys get exactly 0 and every query row
    sums to 1 over the real keys. `attention_out`, a float32 tensor of that
    shape, receives them in place where the backend allows (torch on CPU
    writes straight into the capture's numpy array). `attention_shift`, a
    tensor of that shape, is added to the probabilities before they weigh
    the values: zeros leave the output as it is and give attributions the
    gradient with respect to the maps. With
    `return_values=True` as well, the value heads `x W_V + b_V`
    `(B, num_heads, T, head_dim)` come third: the capture path's
    norm-weighted attention reads the very projection this call made.
    `head_gates`, a (B or 1, num_heads) tensor, multiplies each head's
    output before the output projection (Michel et al. 2019): ones change
    nothing, a 0 ablates that head; None skips the multiply.

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
        self.intermediate_dim = intermediate_dim
        self.rate = dropout
        policy = self.dtype_policy

        def linear(units, name):
            return Linear(units, dtype=policy, name=name)

        def layer_norm(name):
            return keras.layers.LayerNormalization(
                epsilon=LAYER_NORM_EPSILON, dtype=policy, name=name
            )

        self.query = linear(hidden_dim, "query")
        self.key = linear(hidden_dim, "key")
        self.value = linear(hidden_dim, "value")
        self.attention_output = linear(hidden_dim, "attention_output")
        self.attention_layer_norm = layer_norm("attention_layer_norm")
        self.ffn_intermediate = linear(intermediate_dim, "ffn_intermediate")
        self.ffn_output = linear(hidden_dim, "ffn_output")
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

    def _heads(self, x, layer: Linear):
        return kernels.split_heads(layer.project(x), self.num_heads)

    def _norm(self, x, layer: keras.layers.LayerNormalization):
        return kernels.layer_norm(
            x, kernels.read(layer.gamma), kernels.read(layer.beta)
        )

    def call(
        self,
        x,
        padding_mask,
        training=None,
        return_attention=False,
        attention_out=None,
        attention_shift=None,
        return_values=False,
        head_gates=None,
    ):
        query = self._heads(x, self.query)
        key = self._heads(x, self.key)
        value = self._heads(x, self.value)
        keep = kernels.key_mask(padding_mask)
        dropout = bool(training and self.rate)
        if return_attention or dropout or attention_shift is not None:
            probabilities = kernels.attention_probabilities(
                query, key, keep, out=attention_out
            )
            # Dropout only in training: outside it the layer call (0.2-0.3 ms
            # through Layer.__call__ on torch) would change nothing.
            weights = (
                self.dropout(probabilities, training=training)
                if dropout
                else probabilities
            )
            if attention_shift is not None:
                # A zero shift changes nothing, and the gradient with respect
                # to it is the gradient with respect to the maps (jax cannot
                # take one with respect to an intermediate value).
                weights = ops.add(weights, attention_shift)
            context = kernels.attend(weights, value)
        else:
            context = kernels.fused_attention(query, key, value, keep)
        if head_gates is not None:
            context = kernels.gate_heads(context, head_gates)
        x = self.finish(x, context, training=training)
        if return_attention and return_values:
            return x, probabilities, value
        if return_attention:
            return x, probabilities
        return x

    def attention_block(self, x, context, training=None):
        """The attention block's output `LN(x + W_O merge(context) + b_O)`.

        `context`: the heads' outputs (B, num_heads, T, head_dim), before
        the output projection.
        """
        attended = self.attention_output.project(kernels.merge_heads(context))
        if training and self.rate:
            attended = self.dropout(attended, training=training)
        return self._norm(kernels.add(x, attended), self.attention_layer_norm)

    def finish(self, x, context, training=None):
        """The layer's output from its input `x` and the heads' `context`.

        Everything after the attention weights have weighed the values: the
        output projection, both residuals, both LayerNorms and the
        feed-forward network. The interventions (value zeroing, gated
        heads) recompute a layer from here.
        """
        x = self.attention_block(x, context, training=training)
        hidden = kernels.gelu(self.ffn_intermediate.project(x))
        hidden = self.ffn_output.project(hidden)
        if training and self.rate:
            hidden = self.dropout(hidden, training=training)
        return self._norm(kernels.add(x, hidden), self.ffn_layer_norm)

    def compute_output_spec(
        self,
        x,
        padding_mask,
        training=None,
        return_attention=False,
        attention_out=None,
        attention_shift=None,
        return_values=False,
        head_gates=None,
    ):
        out = keras.KerasTensor(x.shape, dtype=self.compute_dtype)
        if not return_attention:
            return out
        batch, length = x.shape[0], x.shape[1]
        shape = (batch, self.num_heads, length, length)
        maps = keras.KerasTensor(shape, dtype="float32")
        if not return_values:
            return out, maps
        head_dim = self.hidden_dim // self.num_heads
        values = (batch, self.num_heads, length, head_dim)
        return out, maps, keras.KerasTensor(values, dtype=self.compute_dtype)

    def get_config(self):
        return {
            **super().get_config(),
            "num_heads": self.num_heads,
            "hidden_dim": self.hidden_dim,
            "intermediate_dim": self.intermediate_dim,
            "dropout": self.rate,
        }
