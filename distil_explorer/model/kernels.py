"""The tensor primitives an encoder layer is made of.

Each is written once with `keras.ops`, which runs on every backend. On torch
each is then replaced by the one native call it stands for: `keras.ops`
spends 20-40 us per op on dispatch (symbolic-tensor checks, tree
flattening), about 4 ms of a 6-layer forward, which is 4-9% at batch 1.
Layers are only ever run eagerly on torch (symbolic shapes go through
`compute_output_spec`), so the native versions never see a KerasTensor.
"""

from __future__ import annotations

import contextlib

import keras
from keras import ops

LAYER_NORM_EPSILON = 1e-12
MASKED_SCORE = -1e9


def read(variable):
    """The value a layer computes with: `variable.value`."""
    return variable.value


def direct_reads():
    """A context in which `read` may skip Keras's per-read scope checks.

    Entered around each layer call that runs without `Layer.__call__`
    (`DistilBertBackbone._calls_layers_directly`). A no-op off torch.
    """
    return contextlib.nullcontext()


def linear(x, kernel, bias):
    """`x @ kernel.T + bias`, kernel stored (units, input_dim)."""
    return ops.add(ops.matmul(x, ops.transpose(kernel)), bias)


def lookup(table, ids):
    """Rows `ids` (B, T) of `table` (rows, width): (B, T, width)."""
    return ops.take(table, ids, axis=0)


def float32(x):
    """`x` as float32 (the same tensor when it is float32 already)."""
    return ops.cast(x, "float32")


def add(x, y):
    """`x + y`: the residual connections and token + position embeddings."""
    return ops.add(x, y)


def layer_norm(x, gamma, beta):
    """LayerNorm over the last axis, computed in float32 whatever x's dtype."""
    y = ops.layer_normalization(
        ops.cast(x, "float32"),
        ops.cast(gamma, "float32"),
        ops.cast(beta, "float32"),
        epsilon=LAYER_NORM_EPSILON,
    )
    return ops.cast(y, x.dtype)


def gelu(x):
    """Exact (erf) GELU, as DistilBERT and BERT use."""
    return ops.gelu(x, approximate=False)


def split_heads(x, num_heads: int):
    """(B, T, hidden) -> (B, num_heads, T, head_dim)."""
    batch, length, hidden = ops.shape(x)
    x = ops.reshape(x, (batch, length, num_heads, hidden // num_heads))
    return ops.transpose(x, (0, 2, 1, 3))


def merge_heads(x):
    """(B, num_heads, T, head_dim) -> (B, T, hidden)."""
    batch, heads, length, head_dim = ops.shape(x)
    return ops.reshape(
        ops.transpose(x, (0, 2, 1, 3)), (batch, length, heads * head_dim)
    )


def gate_heads(context, gates):
    """Each head's output (B, heads, T, hd) times its gate, gates (B or 1, heads)."""
    return ops.multiply(context, ops.cast(gates, context.dtype)[:, :, None, None])


def key_mask(padding_mask):
    """(B, T) 0/1 -> (B, 1, 1, T) bool: which keys each query may attend to."""
    return ops.cast(padding_mask, "bool")[:, None, None, :]


def fused_attention(query, key, value, keep):
    """Softmax attention without materialising probabilities (heads-first)."""
    transpose = (0, 2, 1, 3)
    out = ops.dot_product_attention(
        ops.transpose(query, transpose),
        ops.transpose(key, transpose),
        ops.transpose(value, transpose),
        mask=keep,
    )
    return ops.transpose(out, transpose)


def attention_probabilities(query, key, keep, out=None):
    """Float32 softmax probabilities (B, heads, T, T); masked keys get 0.

    A large finite negative rather than -inf: an all-padding row (reachable
    only when input validation is skipped while tracing) becomes uniform
    instead of NaN, and real rows still get exactly 0 on padding keys.
    `out`: a float32 tensor of that shape to write into, where the backend
    can (torch); the result is `out` then, else a new tensor.
    """
    head_dim = ops.shape(query)[-1]
    # Scaling queries (T x head_dim) is cheaper than scaling scores (T x T).
    query = ops.multiply(query, ops.cast(head_dim**-0.5, query.dtype))
    scores = ops.cast(ops.matmul(query, ops.swapaxes(key, -1, -2)), "float32")
    if keep is not None:
        scores = ops.where(keep, scores, MASKED_SCORE)
    return ops.softmax(scores, axis=-1)


def attend(probabilities, value):
    """Weighted sum of values: (B, heads, T, T) x (B, heads, T, hd)."""
    return ops.matmul(ops.cast(probabilities, value.dtype), value)


if keras.backend.backend() == "torch":
    import threading

    import torch
    import torch.nn.functional as F

    try:  # Keras's own scope lookups; not public API, so a move is survived
        from keras.src.backend import get_autocast_scope, in_stateless_scope
        from keras.src.backend.torch.core import get_device
    except ImportError:  # then every read goes through `.value`
        get_autocast_scope = in_stateless_scope = get_device = None

    class _Reads(threading.local):
        """Whether `read` may return a variable's own tensor, per thread: set
        only for the length of one direct layer call (`direct_reads`)."""

        direct = False

    _reads = _Reads()

    @contextlib.contextmanager
    def direct_reads():  # noqa: F811
        # `variable.value` on torch looks up the stateless scope, the
        # autocast scope and the default device in Keras's global state on
        # every read: 5 us, 100 reads per forward pass. With no scope
        # active it returns the variable's own tensor, so that is checked
        # once here instead: on a 6-layer hidden-24 model, 14% off a plain
        # call and 11% off a capture (benchmarks/overhead.py's model). The
        # meta device (symbolic builds) keeps Keras's reads.
        direct = (
            get_device is not None
            and not in_stateless_scope()
            and getattr(get_autocast_scope(), "dtype", None) is None
            and str(get_device()) != "meta"
        )
        before, _reads.direct = _reads.direct, direct
        try:
            yield
        finally:
            _reads.direct = before

    def read(variable):  # noqa: F811
        if _reads.direct:
            return variable._value  # what `.value` returns when no scope is on
        return variable.value

    def linear(x, kernel, bias):  # noqa: F811
        # One fused addmm, as nn.Linear; matmul + add would be two kernels.
        return F.linear(x, kernel, bias)

    def lookup(table, ids):  # noqa: F811
        return F.embedding(ids, table)

    def float32(x):  # noqa: F811
        return x.float()

    def add(x, y):  # noqa: F811
        return torch.add(x, y)

    def layer_norm(x, gamma, beta):  # noqa: F811
        y = F.layer_norm(
            x.float(), x.shape[-1:], gamma.float(), beta.float(), LAYER_NORM_EPSILON
        )
        return y.to(x.dtype)

    def gelu(x):  # noqa: F811
        return F.gelu(x)

    def split_heads(x, num_heads: int):  # noqa: F811
        batch, length, hidden = x.shape
        return x.view(batch, length, num_heads, hidden // num_heads).transpose(1, 2)

    def merge_heads(x):  # noqa: F811
        batch, heads, length, head_dim = x.shape
        return x.transpose(1, 2).reshape(batch, length, heads * head_dim)

    def key_mask(padding_mask):  # noqa: F811
        # No padding, no mask: SDPA then takes its unmasked kernel and the
        # capture path skips a (B, heads, T, T) masked_fill. Checking costs
        # nothing on CPU; on an accelerator it would force a sync, so keep it.
        if padding_mask.device.type == "cpu" and bool(padding_mask.all()):
            return None
        return padding_mask.bool()[:, None, None, :]

    def fused_attention(query, key, value, keep):  # noqa: F811
        return F.scaled_dot_product_attention(query, key, value, attn_mask=keep)

    def attention_probabilities(query, key, keep, out=None):  # noqa: F811
        query = query * query.shape[-1] ** -0.5
        if out is not None and query.dtype == torch.float32:
            # The capture's numpy slot holds scores, then probabilities, in
            # place: no fresh (B, heads, T, T) tensor per layer, no copy.
            scores = torch.matmul(query, key.transpose(-1, -2), out=out)
            if keep is not None:
                scores.masked_fill_(~keep, MASKED_SCORE)
            return torch.softmax(scores, dim=-1, out=scores)
        # float32 before masking: -1e9 does not fit float16 (a no-op for fp32).
        scores = torch.matmul(query, key.transpose(-1, -2)).float()
        if keep is not None:
            scores = scores.masked_fill_(~keep, MASKED_SCORE)
        if out is not None:  # the capture's numpy buffer: no copy afterwards
            return torch.softmax(scores, dim=-1, out=out)
        return torch.softmax(scores, dim=-1)

    def attend(probabilities, value):  # noqa: F811
        return torch.matmul(probabilities.to(value.dtype), value)
