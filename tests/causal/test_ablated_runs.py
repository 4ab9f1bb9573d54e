"""Ablated heads through the session and through a worker process."""

from pathlib import Path

import numpy as np
import pytest

from distil_explorer import capture
from distil_explorer.runtime.runner import Runner
from distil_explorer.session import BuildRequest, Session
from tests.conftest import tiny_inputs
from tests.runtime.conftest import require_backend

PRESET = Path(__file__).parents[1] / "fixtures" / "keras_hub_tiny" / "preset"


def test_session_runs_the_ablated_model_and_interventions_keep_it():
    session = Session()
    try:
        session.build(BuildRequest(str(PRESET)))
        plain = session.run("the cat sat")
        ablated = session.run("the cat sat", ablate=[(0, 1)])
        assert ablated.ablated_heads == ((0, 1),) and plain.ablated_heads == ()
        assert np.abs(ablated.hidden_states[-1] - plain.hidden_states[-1]).max() > 1e-4
        again = {"token_ids": ablated.token_ids, "padding_mask": ablated.padding_mask}
        expected = capture(session.backbone, again, ablate=[(0, 1)])
        np.testing.assert_array_equal(ablated.hidden_states, expected.hidden_states)
        session.intervene(1, "mask")
        assert session.trace.ablated_heads == ((0, 1),)
        with pytest.raises(ValueError, match=r"ablate layer=9: out of range"):
            session.run("the cat sat", ablate=[(9, 0)])
    finally:
        session.close()


def test_a_worker_on_another_backend_runs_the_same_ablation(tiny_backbone):
    require_backend("jax")
    inputs = tiny_inputs()
    expected = capture(tiny_backbone, inputs, ablate=[(1, 0)])
    with Runner("jax", timeout=120) as runner:
        found = runner.capture(tiny_backbone, inputs, ablate=[(1, 0)])
    assert found.ablated_heads == ((1, 0),) and found.backend == "jax"
    np.testing.assert_allclose(found.hidden_states, expected.hidden_states, atol=1e-5)
    plain = capture(tiny_backbone, inputs)
    assert np.abs(plain.hidden_states[-1] - expected.hidden_states[-1]).max() > 1e-4
