"""Peak memory that follows `max_length` and the IG chunk, not the line or `steps`.

1. Corpus: `corpus_statistics` over a text file of short lines plus one
   5 MB line, against the same file with that line short (issue 27 item 6).
   Before texts were cut ahead of tokenizing, the long line alone cost
   1.3-1.7 GB (`--uncut` measures that again by switching the cut off).
2. Attribution: integrated gradients at `steps=32` against `steps=1024`
   (issue 27 item 7); the steps run in chunks sized from the model's memory
   per sequence, so both peak at one chunk.

Each run is a fresh process (peak RSS only grows); targets: both ratios
within 10% (<= 1.10). A small random model (2-4 layers, hidden 256) keeps it
to about a minute on 2 cores.

    python benchmarks/long_lines.py [--threads 2] [--uncut]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

os.environ.setdefault("KERAS_BACKEND", "torch")
sys.path.insert(0, os.path.dirname(__file__))

from _peak_rss import peak_rss_mb, print_peak_rss  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VOCAB = os.path.join(ROOT, "tests", "fixtures", "bert_base_uncased", "vocab.txt")
LONG_LINE_CHARS = 5_000_000
MAX_LENGTH = 64
SENTENCE = "The quick brown fox jumps over the lazy dog; café déjà vu! "
# Attribution: wide enough that 32 steps fill a chunk (see steps_per_chunk).
ATTRIBUTION = {
    "num_layers": 4,
    "num_heads": 4,
    "hidden_dim": 256,
    "intermediate_dim": 1024,
    "max_sequence_length": 128,
}


def corpus_file(folder: str, long: bool) -> str:
    lines = [f"{SENTENCE[: 20 + i % 40]} {i}" for i in range(200)]
    lines[100] = (
        (SENTENCE * (LONG_LINE_CHARS // len(SENTENCE) + 1))[:LONG_LINE_CHARS]
        if long
        else SENTENCE
    )
    path = os.path.join(folder, "long.txt" if long else "short.txt")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    return path


def run_corpus(path: str, uncut: bool) -> None:
    import importlib

    import distil_explorer as de

    if uncut:  # what every release before the cut did
        module = importlib.import_module("distil_explorer.tokenizer")
        module.cut_texts = lambda texts, *args: list(texts)
    tokenizer = de.DistilBertTokenizer(VOCAB, lowercase=True)
    backbone = de.DistilBertBackbone(
        vocabulary_size=tokenizer.vocabulary_size,
        num_layers=2,
        num_heads=4,
        hidden_dim=64,
        intermediate_dim=256,
        max_sequence_length=MAX_LENGTH,
    )
    stats = de.corpus_statistics(
        backbone, path, tokenizer, batch_size=8, max_length=MAX_LENGTH, progress=False
    )
    assert stats.num_texts == 200, stats.num_texts


def run_attribution(steps: int) -> None:
    import numpy as np

    import distil_explorer as de

    backbone = de.DistilBertBackbone(vocabulary_size=1000, **ATTRIBUTION)
    ids = np.random.default_rng(0).integers(5, 1000, (1, 128)).astype("int32")
    ids[0, 0], ids[0, -1] = 2, 3
    inputs = {"token_ids": ids, "padding_mask": np.ones_like(ids)}
    de.attribute(backbone, inputs, de.cls_norm_target(), steps=steps)


def measure(name: str, threads: int, folder: str, uncut: bool) -> None:
    import torch

    torch.set_num_threads(threads)
    if name.startswith("corpus-"):
        run_corpus(os.path.join(folder, name.removeprefix("corpus-") + ".txt"), uncut)
    else:
        run_attribution(int(name.removeprefix("steps-")))
    print_peak_rss()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--uncut", action="store_true", help="also without the cut")
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    parser.add_argument("--no-cut", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        measure(args.measure, args.threads, args.folder, args.no_cut)
        return
    script, threads = os.path.abspath(__file__), ("--threads", str(args.threads))
    with tempfile.TemporaryDirectory() as folder:
        corpus_file(folder, long=False), corpus_file(folder, long=True)
        where = ("--folder", folder)
        short = peak_rss_mb(script, "corpus-short", *threads, *where)
        long = peak_rss_mb(script, "corpus-long", *threads, *where)
        print(f"corpus, 200 short lines:             peak RSS {short:7.1f} MB")
        print(f"corpus, the same with one 5 MB line: peak RSS {long:7.1f} MB")
        print(f"  ratio {long / short:.3f} (target <= 1.10)")
        if args.uncut:
            uncut = peak_rss_mb(script, "corpus-long", *threads, *where, "--no-cut")
            print(f"  without the cut: {uncut:.1f} MB ({uncut / short:.2f}x)")
    few = peak_rss_mb(script, "steps-32", *threads)
    many = peak_rss_mb(script, "steps-1024", *threads)
    print(f"attribution, steps=32:   peak RSS {few:7.1f} MB")
    print(f"attribution, steps=1024: peak RSS {many:7.1f} MB")
    print(f"  ratio {many / few:.3f} (target <= 1.10)")


if __name__ == "__main__":
    main()
