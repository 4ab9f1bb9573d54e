"""Oracle: Hugging Face transformers (test-only dependency) on the same weights."""

import numpy as np
import pytest

from distil_explorer import DistilBertBackbone, capture
from distil_explorer.weights.assign import WeightsMismatchError, assign_weights
from distil_explorer.weights.transformers_format import (
    UnsupportedCheckpointError,
    backbone_config,
    backbone_weights,
)
from tests.factories import TINY_HF_BERT, TINY_HF_DISTILBERT

transformers = pytest.importorskip("transformers")
torch = pytest.importorskip("torch")


def _inputs():
    ids = np.array([[2, 7, 11, 5, 9, 3, 1, 4], [2, 6, 8, 3, 0, 0, 0, 0]], "int32")
    mask = np.array([[1] * 8, [1] * 4 + [0] * 4], "int32")
    return {"token_ids": ids, "padding_mask": mask}


def _hf_outputs(model, inputs, **kwargs):
    with torch.no_grad():
        out = model(
            input_ids=torch.tensor(inputs["token_ids"], dtype=torch.long),
            attention_mask=torch.tensor(inputs["padding_mask"]),
            output_attentions=True,
            output_hidden_states=True,
            **kwargs,
        )
    return out


def _ours(hf_model):
    config = hf_model.config.to_dict()
    state = {k: v.numpy() for k, v in hf_model.state_dict().items()}
    backbone = DistilBertBackbone(**backbone_config(config))
    assign_weights(backbone, backbone_weights(config, state))
    return backbone


def _compare(backbone, hf_out, inputs):
    trace = capture(backbone, inputs)
    plain = np.asarray(backbone(inputs).detach())
    np.testing.assert_allclose(
        plain, hf_out.last_hidden_state.numpy(), atol=1e-5, rtol=0
    )
    hidden = np.stack([h.numpy() for h in hf_out.hidden_states])
    np.testing.assert_allclose(trace.hidden_states, hidden, atol=1e-5, rtol=0)
    attentions = np.stack([a.numpy() for a in hf_out.attentions])
    np.testing.assert_allclose(trace.attentions, attentions, atol=1e-5, rtol=0)


@pytest.fixture(scope="module")
def hf_distilbert():
    torch.manual_seed(0)
    config = transformers.DistilBertConfig(
        **TINY_HF_DISTILBERT, attn_implementation="eager"
    )
    return transformers.DistilBertModel(config).eval()


def test_matches_transformers_distilbert(hf_distilbert):
    inputs = _inputs()
    _compare(_ours(hf_distilbert), _hf_outputs(hf_distilbert, inputs), inputs)


def test_matches_transformers_bert_with_token_type_zero():
    torch.manual_seed(1)
    config = transformers.BertConfig(
        **TINY_HF_BERT, type_vocab_size=2, attn_implementation="eager"
    )
    model = transformers.BertModel(config).eval()
    inputs = _inputs()
    hf_out = _hf_outputs(
        model, inputs, token_type_ids=torch.zeros((2, 8), dtype=torch.long)
    )
    _compare(_ours(model), hf_out, inputs)


def test_config_of_another_architecture_is_refused():
    with pytest.raises(UnsupportedCheckpointError, match="model_type='gpt2'"):
        backbone_config({"model_type": "gpt2"})
    with pytest.raises(UnsupportedCheckpointError, match="activation='relu'"):
        backbone_config({"model_type": "distilbert", "activation": "relu"})


def test_missing_tensor_is_named(hf_distilbert):
    config = hf_distilbert.config.to_dict()
    state = {k: v.numpy() for k, v in hf_distilbert.state_dict().items()}
    del state["transformer.layer.1.ffn.lin2.bias"]
    with pytest.raises(
        WeightsMismatchError, match=r"transformer\.layer\.1\.ffn\.lin2\.bias"
    ):
        backbone_weights(config, state)


def test_shape_mismatch_names_variable_and_both_shapes_and_changes_nothing(
    hf_distilbert,
):
    config = hf_distilbert.config.to_dict()
    state = {k: v.numpy() for k, v in hf_distilbert.state_dict().items()}
    arrays = backbone_weights(config, state)
    arrays["transformer_layer_1/ffn_output/kernel"] = np.zeros((16, 23), "float32")
    backbone = DistilBertBackbone(**backbone_config(config))
    before = [np.array(v.numpy()) for v in backbone.weights]
    with pytest.raises(
        WeightsMismatchError, match=r"ffn_output/kernel.*\(16, 23\).*\(16, 24\)"
    ):
        assign_weights(backbone, arrays)
    for old, variable in zip(before, backbone.weights, strict=True):
        np.testing.assert_array_equal(old, variable.numpy())


def test_large_loads_show_progress_and_small_ones_do_not(hf_distilbert, monkeypatch):
    import tqdm.auto

    from distil_explorer.weights import assign as assign_module

    bars = []
    real = tqdm.auto.tqdm

    def recording(*args, **kwargs):
        bars.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(tqdm.auto, "tqdm", recording)
    config = hf_distilbert.config.to_dict()
    state = {k: v.numpy() for k, v in hf_distilbert.state_dict().items()}
    backbone = DistilBertBackbone(**backbone_config(config))
    assign_weights(backbone, backbone_weights(config, state))
    monkeypatch.setattr(assign_module, "PROGRESS_BYTES", 1)
    assign_weights(backbone, backbone_weights(config, state))
    assert [b["disable"] for b in bars] == [True, False]
    assert bars[1]["total"] == sum(np.asarray(v).nbytes for v in backbone.get_weights())
