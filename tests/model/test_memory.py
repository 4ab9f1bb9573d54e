"""model/memory.py: estimates against measured peaks, and refusals before allocating.

The peaks are measured in fresh processes (VmHWM after resetting it through
/proc/self/clear_refs), so nothing else in the test process counts.
"""

import json
import subprocess
import sys
import textwrap
import types
from pathlib import Path

import numpy as np
import pytest

from distil_explorer.config import backbone_presets
from distil_explorer.errors import NotEnoughMemoryError
from distil_explorer.model import memory, memory_limit

ROOT = Path(__file__).parents[2]
BASE = backbone_presets["distil_bert_base_en_uncased"]["config"]
MID = {
    "vocabulary_size": 50,
    "num_layers": 2,
    "num_heads": 4,
    "hidden_dim": 32,
    "intermediate_dim": 64,
    "max_sequence_length": 512,
    "dropout": 0.0,
}


@pytest.fixture(autouse=True)
def no_limit_after():
    yield
    memory_limit.set_memory_limit(None)


def ids(batch, length):
    ones = np.ones((batch, length), "int32")
    return {"token_ids": ones, "padding_mask": ones}


def python(script: str, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )


def test_the_base_model_at_48_x_512_counts_its_maps_exactly():
    estimate = memory.capture_estimate(BASE, 48, 512, norms=True)
    parts = dict(estimate.parts)
    assert parts["attention maps"] == 6 * 48 * 12 * 512 * 512 * 4  # 3.6 GB
    assert parts["norm-weighted maps"] == parts["attention maps"]
    assert parts["hidden states"] == 7 * 48 * 512 * 768 * 4
    assert estimate.total == sum(parts.values())
    assert estimate.text().startswith("9.6 GB (attention maps 3.6 GB, ")
    small = memory.capture_estimate(BASE, 48, 512, layers=1, heads=1)
    assert dict(small.parts)["attention maps"] == 48 * 512 * 512 * 4
    assert small.total < estimate.total / 3


def test_memory_limits_parse_sizes_and_refuse_the_rest():
    memory_limit.set_memory_limit("2 GB")
    assert memory_limit.memory_limit() == 2_000_000_000
    memory_limit.set_memory_limit("512 MiB")
    assert memory_limit.memory_limit() == 512 * 2**20
    assert memory_limit.available_memory() <= (512 * 2**20, "~")  # the least bound
    memory_limit.set_memory_limit(10_000)
    assert memory_limit.available_memory() == (
        10_000,
        "the limit given to set_memory_limit",
    )
    for bad in (0, -1, True, "lots", "2 parsecs", 1.5, "inf GB"):
        with pytest.raises(ValueError, match=r"limit=.*allowed: an int of bytes"):
            memory_limit.set_memory_limit(bad)
    memory_limit.set_memory_limit(None)
    assert memory_limit.memory_limit() is None


PEAK = """
import gc, json
import numpy as np
from distil_explorer import DistilBertBackbone, capture
from distil_explorer.model.buffers import clear_cache
from distil_explorer.model.memory import capture_estimate

def status(field):
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024

config = {config}
backbone = DistilBertBackbone(**config)
ones = np.ones((1, 8), "int32")
warm = {{"token_ids": ones, "padding_mask": ones}}
capture(backbone, warm, norms=True, keep_qk=True, layers=[0], heads=[0])
capture(backbone, warm, norms=True, keep_qk=True)
rows = []
for batch, length, options in {cases}:
    ones = np.ones((batch, length), "int32")
    inputs = {{"token_ids": ones, "padding_mask": ones}}
    gc.collect()
    clear_cache()  # no recycled block from the last case (model/buffers.py)
    open("/proc/self/clear_refs", "w").write("5")
    before = status("VmRSS")
    trace = capture(backbone, inputs, **options)
    peak = status("VmHWM") - before
    del trace
    counts = {{k: len(v) if isinstance(v, list) else v for k, v in options.items()}}
    estimate = capture_estimate(config, batch, length, **counts).total
    rows.append((batch, length, options, peak, estimate))
print(json.dumps(rows))
"""


@pytest.mark.parametrize(
    ("batch", "length", "options"),
    [
        (8, 512, {}),
        (8, 512, {"norms": True, "keep_qk": True}),
        (8, 512, {"layers": [0], "heads": [0]}),
    ],
)
def test_capture_estimates_are_within_0_9x_to_2x_of_the_measured_peak(
    batch, length, options
):
    # One fresh process per case: memory a case freed would hide the next
    # one's peak. Sizes where the maps dominate (60-150 MB); below a few MB,
    # the allocator's own slack is most of what is measured.
    done = python(PEAK.format(config=MID, cases=[(batch, length, options)]))
    assert done.returncode == 0, done.stderr[-3000:]
    ((*_, peak, estimate),) = json.loads(done.stdout)
    assert 0.9 <= estimate / peak <= 2.0, (peak, estimate)


ATTRIBUTION_PEAK = """
import gc, json
import numpy as np
from distil_explorer import DistilBertBackbone, attribute, cls_norm_target
from distil_explorer.model.memory import attribution_estimate

def status(field):
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024

backbone = DistilBertBackbone(**{config})
for length, steps in ((8, 2), (256, 32)):  # the first is the warm-up
    ones = np.ones((1, length), "int32")
    inputs = {{"token_ids": ones, "padding_mask": ones}}
    gc.collect()
    open("/proc/self/clear_refs", "w").write("5")
    before = status("VmRSS")
    attribute(backbone, inputs, cls_norm_target(), steps=steps)
peak = status("VmHWM") - before
print(json.dumps([peak, attribution_estimate({config}, 1, 256, sequences=32).total]))
"""


def test_the_integrated_gradients_estimate_is_within_0_8x_to_1_6x_of_its_peak():
    done = python(ATTRIBUTION_PEAK.format(config=MID))
    assert done.returncode == 0, done.stderr[-3000:]
    peak, estimate = json.loads(done.stdout)
    assert 0.8 <= estimate / peak <= 1.6, (peak, estimate)  # 1.04-1.08 measured


def test_a_base_capture_of_48_x_512_is_refused_before_anything_is_built(monkeypatch):
    import distil_explorer.model.capture as capture_path
    from distil_explorer import capture

    # The base model's numbers, no weights: refusing needs the config only,
    # and running would fail on this stand-in (it has no layers).
    backbone = types.SimpleNamespace(**BASE)
    ran = []
    monkeypatch.setattr(capture_path, "run_capture", lambda *a, **k: ran.append(1))
    memory_limit.set_memory_limit("4 GB")
    with pytest.raises(NotEnoughMemoryError) as refused:
        capture(backbone, ids(48, 512), norms=True)
    message = str(refused.value)
    assert ran == []
    assert message.startswith("capture(B=48, T=512): needs about ")
    assert "attention maps 3.6 GB" in message and "\n" not in message
    assert "more than the 4.0 GB this process can get" in message
    assert "allowed: layers= or heads= (keep fewer maps)" in message
    assert "norms=False" in message
    assert refused.value.needed > 9e9 and refused.value.available == 4e9
    # The way out it names works: one map of one layer fits.
    capture(backbone, ids(48, 512), layers=[-1], heads=[0])
    assert ran == [1]


def test_a_real_capture_refused_under_a_limit_and_its_way_out_runs():
    from distil_explorer import DistilBertBackbone, capture

    backbone = DistilBertBackbone(**MID)
    memory_limit.set_memory_limit("90 MB")  # all maps: 108 MB; one: 83 MB
    with pytest.raises(NotEnoughMemoryError, match=r"capture\(B=8, T=512\)"):
        capture(backbone, ids(8, 512))
    trace = capture(backbone, ids(8, 512), layers=[1], heads=[2])
    assert trace.attentions.shape == (1, 8, 1, 512, 512)
    # Too long for the model: its own error, not one about memory.
    with pytest.raises(ValueError, match="513") as refused:
        capture(backbone, ids(64, 513))
    assert not isinstance(refused.value, MemoryError)


def test_allocation_failures_become_the_same_error_and_others_pass():
    estimate = memory.MemoryEstimate((("maps", 10),))
    torch_message = (
        "[enforce fail at alloc_cpu.cpp:127] data. DefaultCPUAllocator: not "
        "enough memory: you tried to allocate 3623878656 bytes."
    )
    for failure in (RuntimeError(torch_message), MemoryError("Unable to allocate")):
        with (
            pytest.raises(NotEnoughMemoryError) as caught,
            memory.guarded(estimate, "capture of 1 x 2", "layers="),
        ):
            raise failure
        assert str(caught.value).startswith("capture of 1 x 2: ran out of memory")
        assert str(caught.value).endswith("allowed: layers=")
        assert caught.value.__cause__ is failure
    with (
        pytest.raises(RuntimeError, match="^something else$"),
        memory.guarded(estimate, "capture", "layers="),
    ):
        raise RuntimeError("something else")


def test_attribution_runs_its_steps_in_chunks_that_fit_and_refuses_one_that_cannot():
    from distil_explorer import DistilBertBackbone, attribute, cls_norm_target
    from distil_explorer.model import gradients

    backbone = DistilBertBackbone(**MID)
    memory_limit.set_memory_limit("100 MB")
    # 300 steps at once would need about 360 MB: they run in chunks of 50 MB.
    assert gradients.steps_per_chunk(backbone, 1, 256, 300) < 300 / 6
    found = attribute(backbone, ids(1, 256), cls_norm_target(), steps=300)
    assert found.scores.shape == (1, 256)
    # One step of 100 sequences alone is about 120 MB: refused before it runs.
    with pytest.raises(NotEnoughMemoryError) as refused:
        attribute(backbone, ids(100, 256), cls_norm_target(), steps=300)
    message = str(refused.value)
    assert message.startswith(
        "attribute('integrated_gradients', B=100, T=256): needs about"
    )
    assert message.endswith("allowed: shorter or fewer texts, fewer steps")


def test_this_module_imports_no_framework():
    done = python(
        "import sys; import distil_explorer.model.memory; "
        "print(sorted(m for m in ('keras', 'torch', 'jax') if m in sys.modules))"
    )
    assert done.returncode == 0 and done.stdout.strip() == "[]", done.stderr


RLIMIT = """
import resource
import numpy as np
from distil_explorer import DistilBertBackbone, capture
from distil_explorer.errors import NotEnoughMemoryError
from distil_explorer.model import memory, memory_limit

def status(field):
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024

backbone = DistilBertBackbone(**{config})
ones = np.ones((2, 8), "int32")
capture(backbone, {{"token_ids": ones, "padding_mask": ones}})
headroom = 96 * 2**20
resource.setrlimit(resource.RLIMIT_AS, (status("VmSize") + headroom, -1))
ones = np.ones((48, 512), "int32")
inputs = {{"token_ids": ones, "padding_mask": ones}}
open("/proc/self/clear_refs", "w").write("5")
before = status("VmRSS")
try:
    capture(backbone, inputs)
except NotEnoughMemoryError as error:
    print("refused:", error)
print("grew", status("VmHWM") - before)
memory.check_memory = lambda *args: None  # let it try, and fail, for real
try:
    capture(backbone, inputs)
except NotEnoughMemoryError as error:
    print("failed:", error)
"""


def test_under_rlimit_as_a_capture_is_refused_first_and_the_process_exits_normally():
    done = python(RLIMIT.format(config=MID))
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    refused = next(line for line in lines if line.startswith("refused:"))
    assert "capture(B=48, T=512): needs about" in refused
    assert "(the RLIMIT_AS address-space limit)" in refused
    grew = int(next(line for line in lines if line.startswith("grew")).split()[1])
    assert grew < 8 * 2**20  # refused before the 400 MB of maps were touched
    failed = next(line for line in lines if line.startswith("failed:"))
    assert "capture(B=48, T=512): ran out of memory" in failed
