import dataclasses

import numpy as np
import pytest

from distil_explorer import Trace, capture
from distil_explorer.analysis.query_key import score_contributions
from tests.conftest import tiny_inputs


@pytest.fixture(scope="module")
def qk_trace(tiny_backbone):
    return capture(tiny_backbone, tiny_inputs(), keep_qk=True)


def test_terms_rebuild_the_attention_the_model_computed(qk_trace):
    """softmax over keys of the summed terms equals the captured attention row."""
    layers, _, heads, length, _ = qk_trace.queries.shape
    real = int(qk_trace.padding_mask[1].sum())
    for layer in range(layers):
        for head in range(heads):
            scores = np.array(
                [
                    score_contributions(
                        qk_trace.queries, qk_trace.keys, layer, head, 2, k, index=1
                    ).sum()
                    for k in range(real)
                ]
            )
            row = np.exp(scores - scores.max())
            np.testing.assert_allclose(
                row / row.sum(),
                qk_trace.attentions[layer, 1, head, 2, :real],
                atol=1e-5,
            )


def test_qk_is_kept_only_on_request(tiny_trace, qk_trace, tmp_path):
    assert tiny_trace.queries is None
    assert qk_trace.queries.shape == (2, 2, 2, 7, 4)
    loaded = Trace.load(qk_trace.save(tmp_path / "qk.npz"))
    np.testing.assert_array_equal(loaded.keys, qk_trace.keys)
    with pytest.raises(ValueError, match="keep_qk=True"):
        score_contributions(tiny_trace.queries, tiny_trace.keys, 0, 0, 0, 0)


def test_bad_shapes_and_indices_are_refused(qk_trace):
    with pytest.raises(ValueError, match="queries shape"):
        dataclasses.replace(qk_trace, queries=qk_trace.queries[:, :, :, :3])
    with pytest.raises(ValueError, match="key=7"):
        score_contributions(qk_trace.queries, qk_trace.keys, 0, 0, 0, 7)


def test_plot_query_key(qk_trace):
    from distil_explorer.views.plots import plot_query_key

    fig = plot_query_key(qk_trace, 1, 1, 2, 3)
    assert "score" in fig.axes[0].get_title()
