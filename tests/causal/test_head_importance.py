"""Head importance (gate gradients, ablation) and ablated captures against a
float64 numpy oracle with gated heads; finite differences for the gradients."""

import numpy as np
import pytest
from keras import ops

import distil_explorer as de
from tests.causal_checkpoint import HEADS, sensitive_checkpoint
from tests.causal_checkpoint import tokenizer as make_tokenizer

pytest.importorskip("transformers")
pytest.importorskip("torch")

WEIGHTS = np.linspace(-1.0, 1.0, 16).astype("float32")


def _readout(hidden):
    return ops.sum(hidden[:, 0] * ops.convert_to_tensor(WEIGHTS), -1)


def _numpy_readout(hidden):
    return hidden[:, 0] @ WEIGHTS.astype(np.float64)


@pytest.fixture(scope="module")
def checkpoint():
    backbone, oracle = sensitive_checkpoint()
    ids = np.array(
        [
            [2, 7, 11, 5, 9, 3, 1, 4],
            [2, 6, 8, 3, 0, 0, 0, 0],
            [2, 12, 3, 0, 0, 0, 0, 0],
        ],
        "int32",
    )
    mask = (np.arange(8) < np.array([[8], [4], [3]])).astype("int32")
    return backbone, oracle, {"token_ids": ids, "padding_mask": mask}


def _oracle_target(oracle, inputs, gates):
    states = oracle.hidden_states(inputs["token_ids"], inputs["padding_mask"], gates)
    return _numpy_readout(states[-1])


def _ones(oracle, batch):
    return np.ones((oracle.layers, batch, oracle.heads))


def test_ablation_matches_the_numpy_oracle(checkpoint):
    backbone, oracle, inputs = checkpoint
    found = de.head_importance(
        backbone, inputs, _readout, method="ablation", batch_size=2, progress=False
    )
    plain = _oracle_target(oracle, inputs, None)
    expected = np.zeros((oracle.layers, HEADS))
    for layer in range(oracle.layers):
        for head in range(HEADS):
            gates = _ones(oracle, 3)
            gates[layer, :, head] = 0.0
            expected[layer, head] = (
                _oracle_target(oracle, inputs, gates) - plain
            ).mean()
    assert found.dtype == np.float64 and found.shape == (2, HEADS)
    np.testing.assert_allclose(found, expected, atol=1e-5, rtol=0)
    assert np.abs(expected).min() > 1e-3  # every head moves the target


def test_ablation_lines_up_a_target_with_one_row_per_input(checkpoint):
    # The H ablations of a layer run as one batch of H x B rows; a similarity
    # target holds one reference row per input and must still meet its own.
    backbone, oracle, inputs = checkpoint
    other = {k: v[::-1].copy() for k, v in inputs.items()}
    found = de.head_importance(
        backbone,
        inputs,
        de.similarity_target(other),
        method="ablation",
        progress=False,
    )
    # Batches smaller than the text list meet their own reference rows.
    for method in ("ablation", "gradient"):
        whole, batched = (
            de.head_importance(
                backbone,
                inputs,
                de.similarity_target(other),
                method=method,
                batch_size=size,
                progress=False,
            )
            for size in (3, 2)
        )
        np.testing.assert_allclose(batched, whole, atol=1e-6, rtol=1e-5)
    with pytest.raises(ValueError, match="target: holds 2 reference rows for 3"):
        de.head_importance(
            backbone,
            inputs,
            de.similarity_target({k: v[:2] for k, v in other.items()}),
            method="ablation",
            progress=False,
        )

    def pooled(trace):
        mask = trace.padding_mask[..., None].astype(np.float64)
        return (trace.hidden_states[-1] * mask).sum(1) / mask.sum(1)

    def similarity(ablate):
        a, b = pooled(de.capture(backbone, inputs, ablate=ablate)), reference
        return (a * b).sum(-1) / np.linalg.norm(a, axis=-1) / np.linalg.norm(b, axis=-1)

    reference = pooled(de.capture(backbone, other))
    plain = similarity(None)
    expected = [
        [(similarity([(layer, head)]) - plain).mean() for head in range(HEADS)]
        for layer in range(oracle.layers)
    ]
    np.testing.assert_allclose(found, expected, atol=1e-5, rtol=0)


def test_gradients_match_central_differences_of_the_gated_oracle(checkpoint):
    backbone, oracle, inputs = checkpoint
    found = de.head_importance(
        backbone, inputs, _readout, method="gradient", batch_size=2, progress=False
    )
    eps = 1e-5
    expected = np.zeros((oracle.layers, HEADS))
    for layer in range(oracle.layers):
        for head in range(HEADS):
            up, down = _ones(oracle, 3), _ones(oracle, 3)
            up[layer, :, head] += eps
            down[layer, :, head] -= eps
            slope = _oracle_target(oracle, inputs, up) - _oracle_target(
                oracle, inputs, down
            )
            expected[layer, head] = np.abs(slope / (2 * eps)).mean()
    np.testing.assert_allclose(found, expected, rtol=1e-3)
    assert expected.min() > 1e-2


def test_batches_do_not_change_the_result(checkpoint):
    backbone, _, inputs = checkpoint
    for method in ("gradient", "ablation"):
        one = de.head_importance(
            backbone, inputs, _readout, method=method, batch_size=1, progress=False
        )
        all_ = de.head_importance(
            backbone, inputs, _readout, method=method, batch_size=8, progress=False
        )
        np.testing.assert_allclose(one, all_, atol=1e-6, rtol=1e-5)


def test_texts_stream_with_a_tokenizer(checkpoint, capsys):
    backbone, _, _ = checkpoint
    texts = ["the cat sat.", "a big dog sat on the mat.", "the rug."]
    found = de.head_importance(
        backbone, texts, de.cls_norm_target(), tokenizer=make_tokenizer(), batch_size=2
    )
    assert found.shape == (2, HEADS) and np.all(found >= 0) and found.max() > 0
    assert "head importance" in capsys.readouterr().err  # the progress bar


def test_capture_with_no_head_ablated_is_a_plain_capture_bit_for_bit(checkpoint):
    backbone, _, inputs = checkpoint
    plain = de.capture(backbone, inputs, norms=True, keep_qk=True)
    for none in ([], None, ()):
        same = de.capture(backbone, inputs, norms=True, keep_qk=True, ablate=none)
        for name in ("hidden_states", "attentions", "attention_norms", "queries"):
            np.testing.assert_array_equal(getattr(same, name), getattr(plain, name))
        assert same.ablated_heads == ()


def test_an_ablated_capture_matches_the_gated_oracle(checkpoint):
    backbone, oracle, inputs = checkpoint
    found = de.capture(backbone, inputs, ablate=[(1, 2), (0, 0), (0, 3)])
    assert found.ablated_heads == ((0, 0), (0, 3), (1, 2))
    gates = _ones(oracle, 3)
    gates[0, :, [0, 3]] = 0.0
    gates[1, :, 2] = 0.0
    expected = oracle.hidden_states(inputs["token_ids"], inputs["padding_mask"], gates)
    real = inputs["padding_mask"].astype(bool)
    for depth, state in enumerate(expected):
        np.testing.assert_allclose(
            found.hidden_states[depth][real], state[real], atol=1e-5, rtol=0
        )
    # Layer 0's maps are the plain model's; layer 1 sees the ablated input.
    plain = de.capture(backbone, inputs)
    np.testing.assert_array_equal(found.attentions[0], plain.attentions[0])
    assert np.abs(found.attentions[1] - plain.attentions[1]).max() > 1e-3


def test_a_selection_of_maps_keeps_the_ablation(checkpoint):
    backbone, _, inputs = checkpoint
    full = de.capture(backbone, inputs, ablate=[(0, 1)])
    chosen = de.capture(backbone, inputs, ablate=[(0, 1)], layers=[1], heads=[2])
    np.testing.assert_allclose(
        chosen.attentions, full.select(layers=[1], heads=[2]).attentions, atol=1e-6
    )
    assert full.select(layers=[1]).ablated_heads == ((0, 1),)


def test_the_ablation_survives_save_and_load(checkpoint, tmp_path):
    backbone, _, inputs = checkpoint
    trace = de.capture(backbone, inputs, ablate=[(1, 3)])
    loaded = de.Trace.load(trace.save(tmp_path / "t.npz"))
    assert loaded.ablated_heads == ((1, 3),)
    plain = de.capture(backbone, inputs)
    assert de.Trace.load(plain.save(tmp_path / "p.npz")).ablated_heads == ()


@pytest.mark.parametrize(
    "ablate, message",
    [
        ([(2, 0)], r"ablate layer=2: out of range; allowed: 0..1"),
        ([(0, 4)], r"ablate head=4: out of range; allowed: 0..3"),
        ([(0, -1)], r"ablate head=-1: out of range"),
        ([0, 1], r"ablate=\[0, 1\]: allowed: a list of \(layer, head\) pairs"),
        ([(0, 1, 2)], r"ablate=.*allowed: a list of \(layer, head\) pairs"),
        ([("0", 1)], r"ablate layer='0': allowed: an int"),
    ],
)
def test_heads_out_of_range_are_refused(checkpoint, ablate, message):
    backbone, _, inputs = checkpoint
    with pytest.raises(ValueError, match=message):
        de.capture(backbone, inputs, ablate=ablate)


def test_bad_options_are_refused(checkpoint):
    backbone, _, inputs = checkpoint
    target = de.cls_norm_target()
    with pytest.raises(ValueError, match=r"method='grad': allowed: gradient, ablation"):
        de.head_importance(backbone, inputs, target, method="grad")
    with pytest.raises(ValueError, match=r"batch_size=0: allowed: an int >= 1"):
        de.head_importance(backbone, inputs, target, batch_size=0)
    with pytest.raises(ValueError, match=r"texts=\[\]: allowed: at least one text"):
        de.head_importance(backbone, [], target)
    with pytest.raises(ValueError, match=r"target returned shape=\(3, 16\)"):
        de.head_importance(backbone, inputs, lambda h: h[:, 0], progress=False)
    with pytest.raises(ValueError, match=r"target returned shape=\(3, 16\)"):
        de.head_importance(
            backbone, inputs, lambda h: h[:, 0], method="ablation", progress=False
        )


def test_a_trace_refuses_ablated_heads_its_model_does_not_have(checkpoint):
    import dataclasses

    backbone, _, inputs = checkpoint
    trace = de.capture(backbone, inputs)
    with pytest.raises(ValueError, match=r"ablated_heads head=4: out of range"):
        dataclasses.replace(trace, ablated_heads=[(0, 4)])
    assert dataclasses.replace(trace, ablated_heads=[[1, 0]]).ablated_heads == ((1, 0),)


def test_a_file_with_damaged_ablated_heads_is_refused(checkpoint, tmp_path):
    import json

    from distil_explorer.errors import TraceFileError

    backbone, _, inputs = checkpoint
    path = de.capture(backbone, inputs).save(tmp_path / "t.npz")
    with np.load(path) as data:
        arrays = {name: data[name] for name in data.files}
    meta = json.loads(str(arrays.pop("meta")))
    meta["ablated_heads"] = [[0]]
    np.savez(path, meta=np.array(json.dumps(meta)), **arrays)
    with pytest.raises(TraceFileError, match=r"meta.ablated_heads=\[\[0\]\]"):
        de.Trace.load(path)
    del meta["ablated_heads"]  # a file from before ablation: the plain model
    np.savez(path, meta=np.array(json.dumps(meta)), **arrays)
    assert de.Trace.load(path).ablated_heads == ()
