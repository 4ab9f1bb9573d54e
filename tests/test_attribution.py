"""Token attributions against oracles: finite differences, Captum on Hugging Face
transformers, completeness of integrated gradients, and jax against torch."""

import json
from pathlib import Path

import keras
import numpy as np
import pytest

import distil_explorer as de
from distil_explorer.attribution import METHODS, Attribution
from distil_explorer.model import gradients
from tests.conftest import TINY, tiny_inputs
from tests.factories import random_transformers_distilbert, run_on_backend

torch = pytest.importorskip("torch")
captum = pytest.importorskip("captum")
transformers = pytest.importorskip("transformers")

ROOT = Path(__file__).parents[1]


def _randomised(backbone, seed=1):
    """Every weight random (LayerNorm gains near 1, biases non-zero): with the
    initial gains and zero biases, the [CLS] norm after the last LayerNorm
    is sqrt(hidden_dim) whatever the input."""
    rng = np.random.default_rng(seed)
    for variable in backbone.weights:
        value = rng.normal(0, 0.5, variable.shape)
        if "gamma" in variable.path:
            value += 1.0
        variable.assign(value.astype("float32"))
    return backbone


@pytest.fixture(scope="module")
def backbone():
    keras.utils.set_random_seed(0)
    return _randomised(de.DistilBertBackbone(**TINY))


def _first_hidden_unit(hidden):
    return hidden[:, 1, 3] * 2.0 + hidden[:, 0, 0]


@pytest.mark.parametrize("target", ["cls_norm", "unit"])
def test_gradient_x_input_matches_finite_differences(backbone, target):
    target = de.cls_norm_target() if target == "cls_norm" else _first_hidden_unit
    inputs = tiny_inputs()
    found = de.attribute(backbone, inputs, target, method="gradient_x_input")
    table = backbone.token_embedding.embeddings.numpy()
    vectors = table[inputs["token_ids"]].astype("float64")
    mask = torch.tensor(inputs["padding_mask"])
    # d/de f(E + e * E_t at token t only) at e = 0 is grad_t . E_t: the score.
    eps = 1e-3
    expected = np.zeros(inputs["token_ids"].shape)
    with torch.no_grad():
        for t in range(vectors.shape[1]):
            values = []
            for sign in (1, -1):
                moved = vectors.copy()
                moved[:, t] *= 1 + sign * eps
                hidden = gradients.forward(
                    backbone, torch.tensor(moved, dtype=torch.float32), mask
                )
                values.append(gradients.target_of(target, hidden, mask).numpy())
            expected[:, t] = (values[0] - values[1]) / (2 * eps)
    expected *= inputs["padding_mask"]
    np.testing.assert_allclose(found.scores, expected, atol=2e-3, rtol=2e-2)
    assert np.abs(found.scores).max() > 1e-2  # not a vacuous match


def test_forward_from_vectors_is_the_backbone(backbone):
    inputs = tiny_inputs()
    table = backbone.token_embedding.embeddings
    vectors = keras.ops.take(table.value, inputs["token_ids"], axis=0)
    mask = torch.tensor(inputs["padding_mask"])
    with torch.no_grad():
        ours = gradients.forward(backbone, vectors, mask).numpy()
        plain = backbone(inputs).numpy()
    np.testing.assert_allclose(ours, plain, atol=1e-6)


@pytest.mark.parametrize("baseline", ["pad", "zero"])
def test_integrated_gradients_add_up_to_what_the_words_added(backbone, baseline):
    a = de.attribute(backbone, tiny_inputs(), de.cls_norm_target(), baseline=baseline)
    change = np.abs(a.target_value - a.baseline_value)
    assert change.min() > 1e-2
    assert np.all(np.abs(a.delta) <= 0.01 * change)
    # [CLS], [SEP] (first and last real tokens) and padding are the baseline.
    assert a.scores[0, 0] == a.scores[0, -1] == 0
    assert np.all(a.scores[1, 3:] == 0) and a.scores[1, 0] == 0


def test_padding_scores_are_exactly_zero_for_every_method(backbone):
    inputs = tiny_inputs()
    for method in METHODS:
        a = de.attribute(backbone, inputs, de.cls_norm_target(), method=method)
        assert np.all(a.scores[inputs["padding_mask"] == 0] == 0), method
        assert np.abs(a.scores[inputs["padding_mask"] == 1]).max() > 0, method
        assert a.scores.dtype == np.float32 and a.delta.shape == (2,)
        assert not a.scores.flags.writeable


def test_every_method_reports_the_same_baseline(backbone):
    found = [
        de.attribute(backbone, tiny_inputs(), de.cls_norm_target(), method=m)
        for m in METHODS
    ]
    for a in found[1:]:
        np.testing.assert_allclose(a.baseline_value, found[0].baseline_value)
        np.testing.assert_allclose(a.target_value, found[0].target_value)


def test_attention_x_gradient_matches_torch_autograd_on_the_maps(backbone):
    # Oracle: retain_grad on the maps the capture path returns, no shift.
    inputs = tiny_inputs()
    found = de.attribute(
        backbone, inputs, _first_hidden_unit, method="attention_x_gradient"
    )
    mask = torch.tensor(inputs["padding_mask"])
    ids = torch.tensor(inputs["token_ids"])
    with torch.enable_grad():
        x = backbone.embeddings(ids, training=False)
        maps = []
        for layer in backbone.transformer_layers:
            x, probabilities = layer(x, mask, return_attention=True)
            probabilities.retain_grad()
            maps.append(probabilities)
        _first_hidden_unit(x).sum().backward()
    expected = sum((a * a.grad).sum((1, 2)) for a in maps)
    np.testing.assert_allclose(found.scores, expected.detach().numpy(), atol=1e-5)


def test_matches_captum_on_transformers_distilbert():
    from captum.attr import IntegratedGradients

    hf, ours = random_transformers_distilbert(scale=0.3)
    ids = np.array([[2, 7, 11, 5, 9, 3], [2, 6, 8, 3, 0, 0]], "int32")
    mask = np.array([[1] * 6, [1] * 4 + [0] * 2], "int32")
    found = de.attribute(
        ours, {"token_ids": ids, "padding_mask": mask}, de.cls_norm_target(), steps=16
    )

    # Captum's plain use on the Hugging Face model: inputs_embeds, baseline
    # [PAD] (id 0) except at [CLS], [SEP] and padding, target from the output.
    table = hf.embeddings.word_embeddings
    long_ids = torch.tensor(ids, dtype=torch.long)
    base_ids = long_ids.clone()
    base_ids[0, 1:5] = 0
    base_ids[1, 1:3] = 0
    attention_mask = torch.tensor(mask)

    def cls_norm(embeds, attention_mask):
        out = hf(inputs_embeds=embeds, attention_mask=attention_mask)
        return out.last_hidden_state[:, 0].norm(dim=-1)

    expected = IntegratedGradients(cls_norm).attribute(
        table(long_ids).detach(),
        baselines=table(base_ids).detach(),
        additional_forward_args=(attention_mask,),
        n_steps=16,
        method="gausslegendre",
    )
    expected = expected.sum(-1).detach().numpy() * mask
    np.testing.assert_allclose(found.scores, expected, atol=1e-4)
    assert np.abs(expected).max() > 1e-2


_JAX_SCRIPT = """
import json, sys
import numpy as np
import keras
import distil_explorer as de
from tests.conftest import TINY, tiny_inputs
backbone = de.DistilBertBackbone(**TINY)
weights = np.load(sys.argv[1])
for variable in backbone.weights:
    variable.assign(weights[variable.path])
ids = np.array([[1, 5, 6, 2]])
other = {"token_ids": ids, "padding_mask": np.ones((1, 4), "int32")}
targets = (("cls", de.cls_norm_target()), ("sim", de.similarity_target(other)))
out = {}
for method in sys.argv[2:]:
    for name, target in targets:
        a = de.attribute(backbone, tiny_inputs(), target, method=method)
        out[f"{method}/{name}"] = [a.scores.tolist(), a.target_value.tolist(),
                                   a.baseline_value.tolist(), a.backend]
from distil_explorer.model import gradients
from distil_explorer.model.memory import attribution_estimate
one = attribution_estimate(backbone, 1, 7, sequences=1, maps=True).total
forward, seen = gradients.forward, []
def recording(backbone, vectors, *args, **kwargs):
    seen.append(int(vectors.shape[0]))
    return forward(backbone, vectors, *args, **kwargs)
gradients.forward = recording
for name, budget in (("whole", 2**40), ("chunked", one * 2 * 3)):
    gradients.IG_CHUNK_BYTES = budget
    seen.clear()
    a = de.attribute(backbone, tiny_inputs(), targets[0][1], steps=11)
    out[name] = [a.scores.tolist(), max(seen)]
print(json.dumps(out))
"""


def test_jax_agrees_with_torch(backbone, tmp_path):
    path = tmp_path / "weights.npz"
    np.savez(path, **{v.path: v.numpy() for v in backbone.weights})
    done = run_on_backend("jax", _JAX_SCRIPT, str(path), *METHODS)
    assert done.returncode == 0, done.stderr[-3000:]
    from_jax = json.loads(done.stdout.strip().splitlines()[-1])
    other = {
        "token_ids": np.array([[1, 5, 6, 2]]),
        "padding_mask": np.ones((1, 4), "int32"),
    }
    for method in METHODS:
        for name, target in (
            ("cls", de.cls_norm_target()),
            ("sim", de.similarity_target(other)),
        ):
            a = de.attribute(backbone, tiny_inputs(), target, method=method)
            scores, value, base, backend = from_jax[f"{method}/{name}"]
            assert backend == "jax"
            np.testing.assert_allclose(a.scores, scores, atol=1e-4, rtol=0)
            np.testing.assert_allclose(a.target_value, value, atol=1e-4)
            np.testing.assert_allclose(a.baseline_value, base, atol=1e-4)
    # 11 steps of 2 sequences at once, or 3 at a time (the last padded).
    assert from_jax["whole"][1] == 22 and from_jax["chunked"][1] == 6
    np.testing.assert_allclose(
        from_jax["chunked"][0], from_jax["whole"][0], atol=1e-6, rtol=0
    )


def _chunk_budget(backbone, steps_per_chunk, batch, length):
    """The IG_CHUNK_BYTES that makes chunks of exactly `steps_per_chunk` steps."""
    from distil_explorer.model.memory import attribution_estimate

    one = attribution_estimate(backbone, 1, length, sequences=1).total
    return one * batch * steps_per_chunk


def _batches_seen(monkeypatch):
    seen = []
    forward = gradients.forward

    def recording(backbone, vectors, *args, **kwargs):
        seen.append(int(vectors.shape[0]))
        return forward(backbone, vectors, *args, **kwargs)

    monkeypatch.setattr(gradients, "forward", recording)
    return seen


@pytest.mark.parametrize("steps", [7, 50])
def test_integrated_gradients_in_chunks_equals_one_batch(backbone, monkeypatch, steps):
    inputs = tiny_inputs()
    target = de.cls_norm_target()
    monkeypatch.setattr(gradients, "IG_CHUNK_BYTES", 2**40)
    whole = de.attribute(backbone, inputs, target, steps=steps)
    seen = _batches_seen(monkeypatch)
    budget = _chunk_budget(backbone, 3, *inputs["token_ids"].shape)
    monkeypatch.setattr(gradients, "IG_CHUNK_BYTES", budget)
    chunked = de.attribute(backbone, inputs, target, steps=steps)
    # Captum runs ceil(steps / 3) passes of at most 3 steps x 2 sequences.
    assert max(seen) == 6 and seen.count(6) == steps // 3
    np.testing.assert_allclose(chunked.scores, whole.scores, atol=1e-6, rtol=0)
    np.testing.assert_allclose(chunked.delta, whole.delta, atol=1e-6, rtol=0)


def test_a_thousand_steps_run_in_chunks_that_fit_the_budget(backbone, monkeypatch):
    inputs = tiny_inputs()
    seen = _batches_seen(monkeypatch)
    budget = _chunk_budget(backbone, 16, *inputs["token_ids"].shape)
    monkeypatch.setattr(gradients, "IG_CHUNK_BYTES", budget)
    a = de.attribute(backbone, inputs, de.cls_norm_target(), steps=de_max_steps())
    assert max(seen) == 32  # 16 steps of 2 sequences, never 1024 x 2
    change = np.abs(a.target_value - a.baseline_value)
    assert np.all(np.abs(a.delta) <= 0.01 * change)


def de_max_steps():
    from distil_explorer.attribution import MAX_STEPS

    return MAX_STEPS


def test_steps_has_an_upper_bound_checked_before_any_work(backbone, monkeypatch):
    monkeypatch.setattr(gradients, "gauss_legendre", _must_not_run)
    monkeypatch.setattr(np.polynomial.legendre, "leggauss", _must_not_run)
    for steps in (100_000, de_max_steps() + 1):
        with pytest.raises(ValueError) as error:
            de.attribute(backbone, tiny_inputs(), de.cls_norm_target(), steps=steps)
        message = str(error.value)
        assert message.startswith(f"steps={steps}: ")
        assert f"allowed: an int from 1 to {de_max_steps()}" in message


def _must_not_run(*args, **kwargs):
    raise AssertionError("work started before steps was checked")


def test_chunks_follow_the_memory_of_the_model():
    small = {**TINY, "hidden_dim": 8}
    wide = {**TINY, "hidden_dim": 64, "intermediate_dim": 256}
    chunk = [gradients.steps_per_chunk(c, 2, 12, 1024) for c in (small, wide)]
    assert chunk[0] > chunk[1] >= 1
    assert gradients.steps_per_chunk(wide, 2, 12, 3) == 3


def test_similarity_target_is_the_cosine_of_mean_pooled_embeddings(backbone):
    inputs = tiny_inputs()
    other = {
        "token_ids": np.array([[1, 5, 6, 2]]),
        "padding_mask": np.ones((1, 4), "int32"),
    }
    a = de.attribute(
        backbone, inputs, de.similarity_target(other), method="gradient_x_input"
    )
    with torch.no_grad():
        mine = backbone(inputs).numpy()
        theirs = backbone(other).numpy()
    m = inputs["padding_mask"][..., None]
    pooled = (mine * m).sum(1) / m.sum(1)
    reference = theirs.mean(1)[0]
    cosine = pooled @ reference / np.linalg.norm(pooled, axis=1)
    cosine /= np.linalg.norm(reference)
    np.testing.assert_allclose(a.target_value, cosine, atol=1e-5)


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"method": "saliency"}, ["method='saliency'", "integrated_gradients"]),
        ({"steps": 0}, ["steps=0", ">= 1"]),
        ({"steps": 2.5}, ["steps=2.5", "int"]),
        ({"steps": True}, ["steps=True"]),
        ({"baseline": "mask"}, ["baseline='mask'", "pad, zero"]),
        ({"target": "cls"}, ["target='cls'", "not callable"]),
        ({"target": lambda h: h[:, 0]}, ["target returned shape", "(B,)"]),
        ({"inputs": "some text"}, ["needs a tokenizer"]),
    ],
)
def test_bad_arguments_are_named(backbone, kwargs, words):
    args = {"inputs": tiny_inputs(), "target": de.cls_norm_target(), **kwargs}
    with pytest.raises(ValueError) as error:
        de.attribute(backbone, args.pop("inputs"), args.pop("target"), **args)
    for word in words:
        assert word in str(error.value)


def test_low_precision_backbones_are_refused():
    small = de.DistilBertBackbone(**{**TINY, "dtype": "bfloat16"})
    with pytest.raises(ValueError, match="float32, unquantized"):
        de.attribute(small, tiny_inputs(), de.cls_norm_target())


def test_an_unsupported_backend_is_named(tmp_path):
    code = (
        "import numpy as np, distil_explorer as de\n"
        "from tests.conftest import TINY, tiny_inputs\n"
        "b = de.DistilBertBackbone(**TINY)\n"
        "try:\n"
        "    de.attribute(b, tiny_inputs(), de.cls_norm_target())\n"
        "except ValueError as e:\n"
        "    print(e)\n"
    )
    done = run_on_backend("numpy", code, timeout=120)
    assert "backend='numpy'" in done.stdout and "torch, jax" in done.stdout


def test_attribution_checks_its_shapes():
    with pytest.raises(ValueError, match="token_ids shape"):
        Attribution(
            scores=np.zeros((1, 3)),
            method="gradient_x_input",
            target_value=np.zeros(1),
            baseline_value=np.zeros(1),
            token_ids=np.zeros((1, 4)),
            padding_mask=np.ones((1, 3)),
        )


def test_offline_preset_similarity_adds_up_at_the_default_steps():
    from distil_explorer.config import OFFLINE_PRESET

    backbone = de.DistilBertBackbone.from_preset(OFFLINE_PRESET)
    tokenizer = de.DistilBertTokenizer.from_preset(OFFLINE_PRESET)
    target = de.similarity_target("A kitten is resting on a rug.")
    texts = ["The cat sat on the mat.", "Stock prices fell sharply today."]
    a = de.attribute(backbone, texts, target, tokenizer=tokenizer)
    change = np.abs(a.target_value - a.baseline_value)
    assert change.min() > 1e-2
    assert np.all(np.abs(a.delta) <= 0.01 * change), (a.delta, change)
    assert a.tokens[0][:3] == ("[CLS]", "the", "cat")
    # The words shared in meaning (cat/kitten, mat/rug) count the most.
    words = dict(zip(a.tokens[0], a.scores[0], strict=True))
    assert max(words, key=words.get) in ("cat", "mat", "sat")
