"""Generated configs, inputs and capture arguments: a named ValueError or finite output.

`capture` gets inputs of every kind (arrays of random shape, dtype and
values; ragged and nested lists; text mixed with other things; strings
where ids belong) and arguments of every type (`keep_qk`, `layers`,
`heads`); a config.json gets generated values for every field. Each call
either works, with finite outputs of the promised shapes, or raises a
ValueError from our own code naming the argument; never another exception,
never NaN, never a hang.
"""

from __future__ import annotations

import atexit
import json
import shutil
import tempfile
from pathlib import Path

import numpy as np
from hypothesis import event, given, settings
from hypothesis import strategies as st

from distil_explorer import DistilBertTokenizer, capture
from distil_explorer.config import CONFIG_FIELDS
from tests.conftest import TINY
from tests.fuzz.conftest import assert_ours, no_hang
from tests.test_tokenizer import TINY_VOCAB

ARGUMENTS = (
    "keep_qk",
    "norms",
    "layers",
    "heads",
    "token_ids",
    "padding_mask",
    "inputs",
)

anything = (
    st.none()
    | st.booleans()
    | st.integers(-5, 5)
    | st.floats(allow_nan=True)
    | st.text(max_size=4)
    | st.binary(max_size=3)
)
# Valid values drawn about half the time, so both paths are exercised.
valid_selections = (
    st.none()
    | st.integers(-2, 1)
    | st.lists(st.integers(0, 1), max_size=2, unique=True)
)
selections = valid_selections | (
    st.none()
    | st.integers(-4, 4)
    | st.lists(st.integers(-4, 4), max_size=4)
    | st.tuples(st.integers(-3, 3))
    | anything
    | st.lists(anything, max_size=3)
)
flags = st.booleans() | (anything | st.sampled_from([np.bool_(True), "no", 0, 1]))


@st.composite
def id_arrays(draw):
    """(token_ids, padding_mask): mostly near-valid, sometimes wrong in one way."""
    batch, length = draw(st.integers(0, 3)), draw(st.integers(0, 14))
    dtype = draw(st.sampled_from(["int32", "int64", "float32", "bool", "uint8"]))
    ids = draw(st.integers(-2, TINY["vocabulary_size"] + 1))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    token_ids = rng.integers(0, TINY["vocabulary_size"], (batch, length))
    if draw(st.booleans()):
        token_ids.flat[: min(1, token_ids.size)] = ids
    mask = np.ones((batch, length), "int32")
    if length > 1 and draw(st.booleans()):
        mask[:, draw(st.integers(1, length - 1)) :] = 0
    if draw(st.booleans()):
        mask = mask * draw(st.integers(0, 2))
    shape_change = draw(st.sampled_from([None, "transpose", "flat", "extra"]))
    if shape_change == "transpose":
        mask = mask.T
    elif shape_change == "flat":
        token_ids = token_ids.reshape(-1)
    elif shape_change == "extra":
        token_ids = token_ids[None]
    return token_ids.astype(dtype), mask


@st.composite
def call_inputs(draw):
    kind = draw(st.sampled_from(["arrays", "lists", "ragged", "text", "mixed", "junk"]))
    if kind == "text":
        return draw(st.text(max_size=30) | st.lists(st.text(max_size=10), max_size=3))
    if kind == "mixed":
        texts = draw(st.lists(st.text(max_size=5), min_size=1, max_size=3))
        texts.insert(draw(st.integers(0, len(texts))), draw(anything))
        return texts
    if kind == "junk":
        return draw(anything | st.lists(st.integers(0, 5), max_size=3))
    token_ids, mask = draw(id_arrays())
    if kind == "arrays":
        inputs = {"token_ids": token_ids, "padding_mask": mask}
    elif kind == "lists":
        inputs = {"token_ids": token_ids.tolist(), "padding_mask": mask.tolist()}
    else:
        rows = [list(range(1, n + 1)) for n in draw(st.lists(st.integers(0, 4)))]
        inputs = {"token_ids": rows, "padding_mask": [[1] * len(r) for r in rows]}
    if draw(st.integers(0, 5)) == 0:
        key = draw(st.sampled_from(["token_ids", "padding_mask", "extra"]))
        inputs[key] = draw(anything)
    return inputs


def _check_capture(backbone, tokenizer, inputs, **options) -> None:
    with no_hang(20):
        try:
            trace = capture(backbone, inputs, tokenizer=tokenizer, **options)
        except ValueError as error:
            assert_ours(error, ValueError, *ARGUMENTS)
            event("refused")
            return
    event("captured")
    for name in ("hidden_states", "attentions", "queries", "keys", "attention_norms"):
        values = getattr(trace, name)
        assert values is None or np.isfinite(values).all(), name
    if trace.attention_norms is not None:
        assert trace.attention_norms.shape == trace.attentions.shape
        assert (trace.attention_norms >= 0).all()
    batch, length = trace.token_ids.shape
    assert trace.hidden_states.shape[1:3] == (batch, length)
    np.testing.assert_allclose(trace.attentions.sum(-1), 1.0, atol=1e-5)


@given(inputs=call_inputs())
def test_capture_inputs(tiny_backbone, inputs):
    _check_capture(tiny_backbone, DistilBertTokenizer(TINY_VOCAB), inputs)


@settings(max_examples=40)
@given(keep_qk=flags, norms=flags, layers=selections, heads=selections)
def test_capture_arguments(tiny_backbone, keep_qk, norms, layers, heads):
    inputs = {"token_ids": np.array([[2, 5, 6, 3]]), "padding_mask": np.ones((1, 4))}
    inputs["padding_mask"] = inputs["padding_mask"].astype("int32")
    _check_capture(
        tiny_backbone,
        None,
        inputs,
        keep_qk=keep_qk,
        norms=norms,
        layers=layers,
        heads=heads,
    )


# Configs: every field of a keras-hub config.json generated.

config_values = st.one_of(
    st.integers(-2, 40),
    st.floats(-1, 2) | st.just(float("nan")),
    st.booleans(),
    st.none(),
    st.text(max_size=3),
    st.lists(st.integers(0, 3), max_size=2),
)
FIELDS = tuple(f for f in CONFIG_FIELDS if f != "dtype")
WORK = Path(tempfile.mkdtemp(prefix="distil-explorer-fuzz-config-"))
atexit.register(shutil.rmtree, WORK, ignore_errors=True)


@given(
    st.fixed_dictionaries({f: config_values for f in FIELDS})
    | st.fixed_dictionaries(
        {
            **{f: st.integers(1, 6) for f in FIELDS},
            "hidden_dim": st.sampled_from([2, 4, 6, 8]),
            "num_heads": st.sampled_from([1, 2]),
            "dropout": st.sampled_from([0.0, 0.1]),
            "vocabulary_size": st.integers(4, 30),
            "max_sequence_length": st.integers(4, 12),
        }
    )
)
def test_generated_configs(values):
    from distil_explorer import DistilBertBackbone
    from distil_explorer.errors import FileFormatError

    config = {
        "module": "keras_hub.src.models.distil_bert.distil_bert_backbone",
        "class_name": "DistilBertBackbone",
        "config": {"name": "distil_bert_backbone", "dtype": "float32", **values},
    }
    (WORK / "config.json").write_text(json.dumps(config))
    path = WORK / "config.json"
    with no_hang(20):
        try:
            backbone = DistilBertBackbone.from_preset(str(WORK), load_weights=False)
        except FileFormatError as error:
            assert_ours(error, FileFormatError, str(path))
            assert error.field is not None and error.path == str(path)
            return
    ids = (
        np.arange(min(3, backbone.max_sequence_length))[None]
        % values["vocabulary_size"]
    )
    inputs = {"token_ids": ids, "padding_mask": np.ones_like(ids)}
    trace = capture(backbone, inputs)
    assert np.isfinite(trace.hidden_states).all()
    assert trace.attentions.shape[:3] == (values["num_layers"], 1, values["num_heads"])
