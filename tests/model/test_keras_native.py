"""keras-hub's backbone battery, on torch (here), jax and tensorflow (subprocess).

Keras runs one backend per process: every backend but this process's runs
`tests/model/keras_battery.py` in a fresh interpreter that imports only
`distil_explorer` and keras, which also proves `.keras` files load with no
`custom_objects`. The quantization drift is held to keras-hub's own
DistilBERT on the same weights (its fixture preset).
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from distil_explorer.runtime.backends import available_backends, worker_environment
from tests.model import keras_battery

ROOT = Path(__file__).parents[2]
# keras-hub 0.32's DistilBertBackbone on tests/fixtures/keras_hub_tiny, same
# inputs, after `quantize(mode)`: max |output - float output| (torch, jax and
# tensorflow agree to 1e-6). Live check: test_drift_equals_keras_hub_live.
KERAS_HUB_DRIFT = {"int8": 0.099243, "float8": 0.547949, "int4": 1.056288}
BACKENDS = ["torch", "jax", "tensorflow"]


def _battery_in_subprocess(backend: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-m", "tests.model.keras_battery"],
        cwd=ROOT,
        env=worker_environment(backend),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module", params=BACKENDS)
def battery(request):
    backend = request.param
    if backend not in available_backends():
        pytest.skip(f"backend {backend!r} is not installed")
    if backend == os.environ.get("KERAS_BACKEND", "torch"):
        results = keras_battery.run_all()
    else:
        results = _battery_in_subprocess(backend)
    assert results["backend"] == backend
    return results


def test_serialization_round_trips_bit_equal(battery):
    result = battery["serialization"]
    assert result["class"] == "DistilBertBackbone"
    assert result["config_equal"]
    assert result["serialized_diff"] == 0.0


def test_keras_file_loads_without_custom_objects_bit_equal(battery):
    result = battery["serialization"]
    assert result["keras_file_class"] == "DistilBertBackbone"
    assert result["keras_file_diff"] == 0.0
    # A quantized model's file reloads quantized, with the same outputs.
    assert result["int8_keras_file_modes"] == ["int8"]
    assert result["int8_kernel_dtype"] == "int8"
    assert result["int8_keras_file_diff"] == 0.0


def test_variable_sequence_lengths(battery):
    result = battery["lengths"]
    assert result["shapes"] == [[2, 1, 8], [2, 5, 8], [2, 32, 8]]
    assert result["finite"]


@pytest.mark.parametrize(
    ("dtype", "ulps"),
    [("mixed_float16", 2**-10), ("bfloat16", 2**-7), ("mixed_bfloat16", 2**-7)],
)
def test_dtype_policies_stay_close_to_float32(battery, dtype, ulps):
    # float16 keeps 10 mantissa bits, bfloat16 7: allow 8 ulps of the
    # largest output over 2 layers (worst seen: 3.4 ulps, bfloat16 on tf).
    result = battery["dtypes"]
    assert 0 < result[dtype] <= 8 * ulps * result["scale"]


def test_dtype_policy_map_is_obeyed(battery):
    result = battery["dtypes"]["map"]
    assert (result["layer_0_query"], result["layer_1_query"]) == (
        "float32",
        "bfloat16",
    )
    assert 0 < result["diff"] < battery["dtypes"]["bfloat16"]  # one layer only
    assert result["round_trip"]


@pytest.mark.parametrize("mode", keras_battery.MODES)
def test_quantization_drift_is_keras_hubs(battery, mode):
    result = battery["quantization"][mode]
    assert result["finite"] and result["round_trip"]
    assert result["drift"] == pytest.approx(KERAS_HUB_DRIFT[mode], abs=1e-4)


@pytest.mark.parametrize("mode", keras_battery.MODES)
def test_capture_runs_on_the_quantized_weights(battery, mode):
    result = battery["quantization"][mode]
    assert result["capture_vs_call"] <= 1e-5
    assert result["attention_diff"] > 1e-3  # the maps moved: quantized weights
    assert result["row_sums"] <= 1e-5
    assert result["trace_dtype"] == f"{mode}_from_float32"


def test_drift_equals_keras_hub_live():
    keras_hub = pytest.importorskip("keras_hub")  # pip install --no-deps
    import numpy as np
    from keras import ops

    _, inputs = keras_battery._fixture()
    for mode in keras_battery.MODES:
        drifts = []
        for cls in (keras_hub.models.DistilBertBackbone, None):
            model = (
                keras_battery._fixture()[0]
                if cls is None
                else cls.from_preset(str(keras_battery.PRESET))
            )
            before = ops.convert_to_numpy(model(inputs))
            model.quantize(mode)
            drifts.append(
                float(np.abs(ops.convert_to_numpy(model(inputs)) - before).max())
            )
        assert drifts[1] == pytest.approx(drifts[0], abs=1e-5), mode
        assert drifts[0] == pytest.approx(KERAS_HUB_DRIFT[mode], abs=1e-4), mode
