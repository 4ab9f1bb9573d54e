"""Runner in this process: the same Trace as `capture`, presets, devices."""

from pathlib import Path

import numpy as np
import pytest

from distil_explorer import DistilBertBackbone, capture
from distil_explorer.runtime import runner as runner_module
from distil_explorer.runtime.runner import Runner
from distil_explorer.runtime.worker import build_model
from tests.conftest import tiny_inputs

PRESET_DIR = Path(__file__).parents[1] / "fixtures" / "keras_hub_tiny" / "preset"


def _same_trace(a, b, atol=0.0) -> None:
    np.testing.assert_allclose(a.hidden_states, b.hidden_states, rtol=0, atol=atol)
    np.testing.assert_allclose(a.attentions, b.attentions, rtol=0, atol=atol)
    np.testing.assert_array_equal(a.token_ids, b.token_ids)
    np.testing.assert_array_equal(a.padding_mask, b.padding_mask)
    assert a.config == b.config


def test_in_process_capture_equals_capture(tiny_backbone):
    runner = Runner()
    trace = runner.capture(tiny_backbone, tiny_inputs())
    _same_trace(trace, capture(tiny_backbone, tiny_inputs()))
    assert (runner.in_process, runner.pid) == (True, None)
    assert (trace.backend, trace.device) == ("torch", "cpu")
    assert runner.last_call.overhead_s == 0.0


def test_in_process_capture_passes_the_selection_on(tiny_backbone):
    trace = Runner().capture(tiny_backbone, tiny_inputs(), layers=0, keep_qk=True)
    expected = capture(tiny_backbone, tiny_inputs(), layers=0, keep_qk=True)
    assert trace.attention_layers == (0,) and trace.queries is not None
    _same_trace(trace, expected)


def test_in_process_capture_passes_norms_on_and_checks_the_flag(tiny_backbone):
    trace = Runner().capture(tiny_backbone, tiny_inputs(), heads=[1], norms=True)
    expected = capture(tiny_backbone, tiny_inputs(), heads=[1], norms=True)
    np.testing.assert_array_equal(trace.attention_norms, expected.attention_norms)
    with pytest.raises(ValueError, match=r"norms='no': not a bool"):
        Runner().capture(tiny_backbone, tiny_inputs(), norms="no")


def test_in_process_on_cpu_by_name(tiny_backbone):
    trace = Runner("torch", device="CPU:0").capture(tiny_backbone, tiny_inputs())
    assert trace.device == "cpu"


def test_in_process_preset_directory_is_loaded_once(monkeypatch):
    builds = []

    def counting_build(spec, device):
        builds.append(spec)
        return build_model(spec, device)

    monkeypatch.setattr(runner_module, "build_model", counting_build)
    runner = Runner()
    inputs = {"token_ids": np.array([[2, 5, 9, 3]]), "padding_mask": np.ones((1, 4))}
    inputs["padding_mask"] = inputs["padding_mask"].astype("int32")
    expected = capture(DistilBertBackbone.from_preset(str(PRESET_DIR)), inputs)
    _same_trace(runner.capture(str(PRESET_DIR), inputs), expected, atol=1e-6)
    _same_trace(runner.capture(str(PRESET_DIR), inputs), expected, atol=1e-6)
    assert builds == [("preset", str(PRESET_DIR))]


def test_refuses_what_is_not_a_model():
    with pytest.raises(ValueError, match=r"model=int: .*allowed: a DistilBertBackbone"):
        Runner().capture(42, tiny_inputs())


def test_closed_runner_refuses_to_capture(tiny_backbone):
    with Runner() as runner:
        runner.capture(tiny_backbone, tiny_inputs())
    with pytest.raises(RuntimeError, match="closed"):
        runner.capture(tiny_backbone, tiny_inputs())


def _cuda_devices() -> list[str]:
    import torch

    return [f"cuda:{i}" for i in range(torch.cuda.device_count())]


cuda = pytest.mark.skipif(not _cuda_devices(), reason="no CUDA device visible")


@pytest.mark.cuda
@cuda
def test_cuda_in_process_matches_cpu(tiny_backbone):
    trace = Runner(device="cuda:0").capture(tiny_backbone, tiny_inputs())
    assert trace.device == "cuda:0"
    _same_trace(trace, capture(tiny_backbone, tiny_inputs()), atol=1e-5)


@pytest.mark.cuda
@cuda
def test_cuda_in_a_torch_worker_matches_cpu(tiny_backbone):
    with Runner("torch", device="cuda:0", isolate=True) as runner:
        trace = runner.capture(tiny_backbone, tiny_inputs())
    assert (trace.backend, trace.device) == ("torch", "cuda:0")
    _same_trace(trace, capture(tiny_backbone, tiny_inputs()), atol=1e-5)
