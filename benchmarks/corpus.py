"""Corpus statistics: texts/s against a plain forward pass, and memory vs corpus size.

Speed: `corpus_statistics` on the demo corpus (offline preset, torch, CPU)
against Hugging Face's `BertModel` with SDPA attention (the same weights:
all-MiniLM-L6-v2) running forward only on the very same length-sorted
batches, interleaved round by round. Target (issue 16): >= 0.8x its texts/s.

Memory: peak RSS of a run over 200 and over 2,000 texts, each in a fresh
process. Target: within 10% of each other (memory holds one batch of maps,
not the corpus).

    python benchmarks/corpus.py [--texts 400] [--rounds 3] [--threads 2]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys

os.environ.setdefault("KERAS_BACKEND", "torch")
sys.path.insert(0, os.path.dirname(__file__))

from _timing import interleaved_medians  # noqa: E402

PRESET = "all_minilm_l6_v2_en"


def speed(count: int, rounds: int, batch_size: int, max_length: int) -> None:
    import numpy as np
    import torch
    import transformers

    import distil_explorer as de
    from distil_explorer.config import backbone_presets
    from distil_explorer.corpus.driver import _batches, _checked_settings
    from distil_explorer.weights.packaged import packaged_directory

    backbone = de.DistilBertBackbone.from_preset(PRESET)
    tokenizer = de.DistilBertTokenizer.from_preset(PRESET)
    folder = packaged_directory(PRESET, backbone_presets[PRESET]["package"])
    reference = transformers.BertModel.from_pretrained(
        folder, attn_implementation="sdpa"
    ).eval()
    texts = de.demo_corpus(count)
    settings = _checked_settings(
        backbone, tokenizer, batch_size, max_length, None, None, False
    )
    settings["norms"] = False
    special = (tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]"))
    no_punctuation = np.zeros(tokenizer.vocabulary_size, bool)
    window = batch_size * 8  # the windows corpus_statistics sorts within
    batches = [
        b
        for start in range(0, len(texts), window)
        for b in _batches(
            texts[start : start + window],
            start,
            tokenizer,
            settings,
            special,
            no_punctuation,
        )
    ]

    def hugging_face():
        with torch.inference_mode():
            for batch in batches:
                ids = torch.from_numpy(batch.token_ids.astype("int64"))
                mask = torch.from_numpy(batch.padding_mask.astype("int64"))
                reference(input_ids=ids, attention_mask=mask)

    def ours():
        de.corpus_statistics(
            backbone,
            texts,
            tokenizer,
            batch_size=batch_size,
            max_length=max_length,
            progress=False,
        )

    medians = interleaved_medians(
        {"hf": hugging_face, "ours": ours}, rounds=rounds, warmup=1
    )
    tokens = sum(int(b.padding_mask.sum()) for b in batches)
    print(
        f"speed: {len(texts)} texts ({tokens} tokens) in {len(batches)} batches "
        f"of {batch_size}, median of {rounds}"
    )
    for name, seconds in medians.items():
        print(f"  {name:5s} {len(texts) / seconds:8.1f} texts/s  ({seconds:.2f} s)")
    ratio = medians["hf"] / medians["ours"]
    print(f"  corpus_statistics / HF sdpa forward: {ratio:.2f}x (target >= 0.80x)")


def peak_rss(count: int, batch_size: int, max_length: int) -> None:
    """Run over `count` demo texts in this (fresh) process; print peak RSS."""
    import distil_explorer as de

    backbone = de.DistilBertBackbone.from_preset(PRESET)
    tokenizer = de.DistilBertTokenizer.from_preset(PRESET)
    texts = de.demo_corpus(count)
    stats = de.corpus_statistics(
        backbone,
        texts,
        tokenizer,
        batch_size=batch_size,
        max_length=max_length,
        progress=False,
    )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB -> MB
    print(f"{stats.num_texts} {peak:.1f}")


def memory(batch_size: int, max_length: int) -> None:
    peaks = {}
    for count in (200, 2000):
        output = subprocess.run(
            [
                sys.executable,
                __file__,
                "--rss-of",
                str(count),
                "--batch-size",
                str(batch_size),
                "--max-length",
                str(max_length),
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        peaks[count] = (int(output[-2]), float(output[-1]))
    print("memory: peak RSS, each in a fresh process")
    for done, peak in peaks.values():
        print(f"  {done:5d} texts: {peak:8.1f} MB")
    ratio = peaks[2000][1] / peaks[200][1]
    print(f"  2,000 / 200 texts: {ratio:.3f}x (target within 10%: <= 1.10x)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--texts", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--rss-of", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    if args.rss_of:
        peak_rss(args.rss_of, args.batch_size, args.max_length)
        return
    speed(args.texts, args.rounds, args.batch_size, args.max_length)
    memory(args.batch_size, args.max_length)


if __name__ == "__main__":
    main()
