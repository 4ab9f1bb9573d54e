"""Context mixing, patching and head importance on jax equal torch's to 1e-4
(jax runs in its own process: one Keras backend per process)."""

import json

import numpy as np
import pytest

from tests.factories import run_on_backend

pytest.importorskip("transformers")
pytest.importorskip("torch")

# Run on both backends: the same checkpoint (the factory seeds torch), the
# same inputs and targets; every result as JSON on the last line.
SCRIPT = """
import json
import numpy as np
from keras import ops
import distil_explorer as de
from tests.causal_checkpoint import sensitive_checkpoint

backbone, _ = sensitive_checkpoint()
ids = np.array([[2, 7, 11, 5, 9, 3, 1], [2, 6, 8, 3, 0, 0, 0]], "int32")
inputs = {"token_ids": ids, "padding_mask": (ids > 0).astype("int32")}
inputs["padding_mask"][0] = 1
corrupted = {k: v[:1].copy() for k, v in inputs.items()}
corrupted["token_ids"][0, 3] = 12
weights = np.linspace(-1.0, 1.0, 16).astype("float32")

def readout(hidden):
    return ops.sum(hidden[:, 0] * ops.convert_to_tensor(weights), -1)

out = {}
for method in ("value_zeroing", "alti"):
    mixing = de.context_mixing(backbone, inputs, method=method)
    out[method] = [mixing.per_layer.tolist(), mixing.backend]
clean = {k: v[:1] for k, v in inputs.items()}
patching = de.patch_activations(backbone, clean, corrupted, readout)
out["patching"] = [patching.effect.tolist(), patching.backend]
for method in ("gradient", "ablation"):
    found = de.head_importance(
        backbone, inputs, readout, method=method, batch_size=1, progress=False
    )
    out[method] = [found.tolist(), patching.backend]
print(json.dumps(out))
"""


def _run(backend: str) -> dict:
    done = run_on_backend(backend, SCRIPT, timeout=400)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_jax_agrees_with_torch():
    from distil_explorer.runtime.backends import available_backends

    if "jax" not in available_backends():
        pytest.skip("jax is not installed")
    torch_results, jax_results = _run("torch"), _run("jax")
    for name, (values, backend) in torch_results.items():
        assert backend == "torch" and jax_results[name][1] == "jax"
        expected = np.asarray(values)
        found = np.asarray(jax_results[name][0])
        scale = max(1.0, np.abs(expected).max())
        np.testing.assert_allclose(
            found, expected, atol=1e-4 * scale, rtol=0, err_msg=name
        )
        assert np.abs(expected).max() > 0, name
