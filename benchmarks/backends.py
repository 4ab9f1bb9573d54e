"""Capture latency on every installed backend, and what a worker process costs.

One backbone (the base uncased config with random weights, built here on
torch) is captured at B=1, T=128 by a `Runner` per backend: torch in this
process, torch in a worker (`isolate=True`), and jax, numpy (and tensorflow
where installed) in their workers, all sent the same weights. Captures are
timed round-robin in one run (with an idle gap before each call, see
`medians_with_gaps`) and reported as medians and as ratios to torch
in process. The worker's overhead ("pipe etc.") is each call's time minus
the capture's own time inside the worker (`Runner.last_call`): the weights
fingerprint, pickling, the pipe and unpickling the Trace (about 7.5 MB).
Torch in a worker minus torch in process shows the same end to end, plus
whatever differs between two processes (on a 2-core machine, mostly noise).

    python benchmarks/backends.py [--rounds 10] [--threads 2] [--gap 0.3]

Target (issue 4): overhead below 10% of a base-model forward at T=128.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable

os.environ.setdefault("KERAS_BACKEND", "torch")
sys.path.insert(0, os.path.dirname(__file__))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from distil_explorer.model.backbone import DistilBertBackbone  # noqa: E402
from distil_explorer.runtime.backends import available_backends  # noqa: E402
from distil_explorer.runtime.runner import Runner  # noqa: E402
from distil_explorer.trace import capture  # noqa: E402

PRESET = "distil_bert_base_en_uncased"
BATCH, LENGTH = 1, 128
IN_PROCESS = "torch, in process"
WORKER = "torch, worker"


def make_runners() -> dict[str, Runner]:
    """A Runner per installed backend, plus torch in a worker."""
    runners = {IN_PROCESS: Runner(), WORKER: Runner("torch", isolate=True)}
    for backend in available_backends():
        if backend != "torch":
            runners[f"{backend}, worker"] = Runner(backend)
    return runners


def first_calls(runners: dict[str, Runner], backbone, inputs) -> dict[str, tuple]:
    """Seconds to start each worker, and for its first capture (weights, build)."""
    times = {}
    for name, runner in runners.items():
        start = time.perf_counter()
        runner.start()
        started = time.perf_counter()
        runner.capture(backbone, inputs)
        times[name] = (started - start, time.perf_counter() - started)
    return times


def agreement(runners: dict[str, Runner], backbone, inputs) -> dict[str, float]:
    """Max abs difference of each runner's last hidden state from torch in process."""
    reference = capture(backbone, inputs).hidden_states[-1]
    return {
        name: float(
            np.abs(r.capture(backbone, inputs).hidden_states[-1] - reference).max()
        )
        for name, r in runners.items()
    }


def medians_with_gaps(
    calls: dict[str, Callable[[], object]], rounds: int, gap: float
) -> dict[str, float]:
    """`interleaved_medians`, with `gap` idle seconds before each timed call.

    Across processes, round-robin alone is not fair: after a call, its
    process's BLAS/OpenMP threads spin-wait for a while (KMP_BLOCKTIME is
    200 ms by default) and on a small machine slow whichever process runs
    next. Letting them settle measures each runner alone.
    """

    def settled(call):
        def run():
            time.sleep(gap)
            start = time.perf_counter()
            call()
            return time.perf_counter() - start

        return run

    samples: dict[str, list[float]] = {name: [] for name in calls}
    wrapped = {name: settled(call) for name, call in calls.items()}
    for round_ in range(rounds + 1):  # the first round warms up
        for name, run in wrapped.items():
            seconds = run()
            if round_:
                samples[name].append(seconds)
    return {name: statistics.median(values) for name, values in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--gap", type=float, default=0.3, help="idle s per call")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    os.environ["OMP_NUM_THREADS"] = str(args.threads)  # the workers' torch/numpy
    keras.utils.set_random_seed(0)
    backbone = DistilBertBackbone.from_preset(PRESET, load_weights=False)
    rng = np.random.default_rng(0)
    inputs = {
        "token_ids": rng.integers(0, backbone.vocabulary_size, (BATCH, LENGTH)),
        "padding_mask": np.ones((BATCH, LENGTH), "int32"),
    }
    runners = make_runners()
    overheads: dict[str, list[float]] = {name: [] for name in runners}

    def timed(name: str, runner: Runner):
        def call():
            runner.capture(backbone, inputs)
            overheads[name].append(runner.last_call.overhead_s)

        return call

    try:
        starts = first_calls(runners, backbone, inputs)
        diffs = agreement(runners, backbone, inputs)
        calls = {name: timed(name, runner) for name, runner in runners.items()}
        medians = medians_with_gaps(calls, args.rounds, args.gap)
    finally:
        for runner in runners.values():
            runner.close()
    print_table(medians, starts, diffs, overheads, args)


def print_table(medians, starts, diffs, overheads, args) -> None:
    """The results, one row per runner, then the worker's overhead."""
    base = medians[IN_PROCESS]
    print(
        f"{PRESET} (random weights), B={BATCH}, T={LENGTH}, fp32, {args.threads} "
        f"threads, median of {args.rounds} interleaved rounds; ratio to {IN_PROCESS}"
    )
    print(
        f"{'capture on':<20}{'median':>10}{'ratio':>8}{'pipe etc.':>11}"
        f"{'start':>8}{'1st call':>10}{'max|dh|':>10}"
    )
    for name, seconds in medians.items():
        start, first = starts[name]
        pipe = statistics.median(overheads[name])
        print(
            f"{name:<20}{seconds * 1e3:>8.1f}ms{seconds / base:>7.2f}x"
            f"{pipe * 1e3:>9.1f}ms{start:>7.2f}s{first:>9.2f}s{diffs[name]:>10.1e}"
        )
    difference = medians[WORKER] - base
    pipe = statistics.median(overheads[WORKER])
    print(
        f"worker overhead at T={LENGTH}: {pipe * 1e3:.1f} ms = {pipe / base:.1%} of a "
        f"capture in process (call minus the capture's own time in the worker; "
        f"target < 10%); end to end, torch in a worker minus in process: "
        f"{difference * 1e3:.1f} ms = {difference / base:.1%}"
    )


if __name__ == "__main__":
    main()
