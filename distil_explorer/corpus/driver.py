"""`corpus_statistics`: what every head does, averaged over thousands of texts.

Texts stream through in windows: each window is tokenized, sorted by length
(so batches carry little padding), cut into batches, and each batch is
captured and reduced to per-head sums (`corpus.sums.batch_sums`) right
away, so no more than one batch of maps is ever held. The batches run in
this process (`engine=None`) or on a Dask cluster (`engine="dask"`,
`corpus.cluster`); either way the sums are merged exactly, in the order of
the corpus, and the means are taken once at the end.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import reprlib
from collections.abc import Callable
from typing import Any

import numpy as np

from distil_explorer._internal.atomic_write import checked_path
from distil_explorer.checks import checked_flag
from distil_explorer.config import CONFIG_FIELDS
from distil_explorer.corpus.file import (
    check_made_with,
    made_with,
    read_statistics,
    write_statistics,
)
from distil_explorer.corpus.statistics import CorpusStatistics
from distil_explorer.corpus.sums import (
    CorpusSums,
    punctuation_ids,
)
from distil_explorer.corpus.texts import fingerprint, text_source, windows

ENGINES = (None, "dask")
_WINDOW_BATCHES = 8  # batches per window: sorted together, run together


@dataclasses.dataclass(frozen=True)
class _Batch:
    """One batch's inputs, as sent to whoever runs it (picklable)."""

    token_ids: np.ndarray
    padding_mask: np.ndarray
    text_index: np.ndarray
    special_ids: tuple[int, int]
    punctuation: np.ndarray
    norms: bool = False


def _batch_sums(backbone: Any, batch: _Batch) -> tuple[CorpusSums, CorpusSums | None]:
    """Capture one batch and reduce its maps to sums (runs where the model is).

    Returns the sums of the attention maps and, with `batch.norms`, of the
    norm-weighted maps (each row normalized to sum 1), else None.
    """
    from distil_explorer.corpus.sums import batch_sums, key_classes, normalized_rows
    from distil_explorer.model.memory import corpus_batch_estimate, guarded
    from distil_explorer.trace import capture

    size, length = batch.token_ids.shape
    estimate = corpus_batch_estimate(backbone, size, length, norms=batch.norms)
    what = f"corpus batch(B={size}, T={length})"
    way_out = "a smaller batch_size or max_length" + (
        ", or norms=False" if batch.norms else ""
    )
    # Asked where the batch runs (this process or a Dask worker), first.
    with guarded(estimate, what, way_out):
        inputs = {"token_ids": batch.token_ids, "padding_mask": batch.padding_mask}
        trace = capture(backbone, inputs, norms=batch.norms)
        classes = key_classes(trace.token_ids, batch.special_ids, batch.punctuation)
        mask, index = trace.padding_mask, batch.text_index
        sums = batch_sums(trace.attentions, mask, classes, index)
        if not batch.norms:
            return sums, None
        norm_maps = normalized_rows(trace.attention_norms)
        return sums, batch_sums(norm_maps, mask, classes, index)


def corpus_statistics(
    backbone: Any,
    texts: Any,
    tokenizer: Any = None,
    batch_size: int = 32,
    max_length: int = 128,
    engine: str | None = None,
    *,
    text_column: str = "text",
    norms: bool = False,
    checkpoint: str | os.PathLike | None = None,
    stop_after: int | None = None,
    progress: bool | Callable[[int, int], None] = True,
    **engine_options: Any,
) -> CorpusStatistics:
    """Per-head attention statistics of `backbone` over a corpus of texts.

    Texts are tokenized a window at a time (`batch_size` x 8 texts), sorted
    by length within the window and run in batches; each batch's maps are
    reduced to exact float64 sums at once, so memory holds one batch of
    maps whatever the corpus size. Means are taken over every real query
    token (padding never counts). With `checkpoint`, the sums so far are
    written there after every window: a run that stops (an interrupt, an
    error, `stop_after`) continues from there when called again with the
    same texts, and ends with the numbers of an uninterrupted run. It
    records what made its sums (model config, weights digest, tokenizer,
    settings, texts digest); a run made otherwise is refused by name.

    Args:
        backbone: a `DistilBertBackbone`.
        texts: a list of str; a path to a UTF-8 text file, one text per line
            (empty lines are skipped); or a Hugging Face `datasets.Dataset`.
        tokenizer: the backbone's `DistilBertTokenizer`.
        batch_size: int >= 1. Texts per forward pass.
        max_length: int, 2 .. `backbone.max_sequence_length`. Tokens per
            text at most, [CLS] and [SEP] included; longer texts are
            truncated keeping [SEP] last.
        engine: None (this process) or "dask": batches run on a Dask
            cluster, each worker building the model once.
        text_column: str. The column of a `datasets.Dataset` with the text.
        norms: bool. Also compute every statistic of the norm-weighted maps
            (`capture(..., norms=True)`), as `norm_values`.
        checkpoint: path of an `.npz` to keep partial sums in, or None.
        stop_after: int or None. Stop once at least this many texts are done
            (at the end of a window) and return what is done so far.
        progress: True for a progress bar (tqdm), False for none, or a
            function called as `progress(texts_done, texts_total)`.
        **engine_options: for "dask": `address` (a running scheduler, e.g.
            "tcp://10.0.0.5:8786"; None starts a local cluster for this
            call) and `n_workers` (of that local cluster, default 2).

    Examples:
    ```python
    backbone = de.DistilBertBackbone.from_preset("all_minilm_l6_v2_en")
    tokenizer = de.DistilBertTokenizer.from_preset("all_minilm_l6_v2_en")
    stats = de.corpus_statistics(backbone, de.demo_corpus(), tokenizer)
    stats.values["cls"].shape  # (6, 12)
    de.corpus_statistics(backbone, "texts.txt", tokenizer, engine="dask",
                         address="tcp://scheduler:8786")
    ```
    """
    from distil_explorer.corpus.cluster import open_engine

    settings = _checked_settings(
        backbone, tokenizer, batch_size, max_length, engine, stop_after, progress
    )
    settings["norms"] = checked_flag("norms", norms)
    start_stream, total = text_source(texts, text_column)
    if total == 0:
        raise ValueError(
            f"texts={reprlib.repr(texts)}: no texts; allowed: at least one text"
        )
    done, sums, norm_sums, examples, expected, record = _resume(
        checkpoint,
        backbone,
        settings,
        lambda: _made_with(backbone, tokenizer, settings, start_stream),
    )
    digest = hashlib.sha256()
    report = _Progress(progress, total)
    special = (tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]"))
    punctuation = punctuation_ids(tokenizer.vocabulary)
    stream = windows(start_stream(), batch_size * _WINDOW_BATCHES)
    position = 0
    try:
        with open_engine(engine, backbone, **engine_options) as run_all:
            report(done)
            for window in stream:
                position += len(window)
                if position <= done:  # summed before the checkpoint was written
                    fingerprint(digest, window)
                    if position == done and digest.hexdigest() != expected:
                        raise ValueError(_other_texts(checkpoint, done))
                    continue
                if stop_after is not None and done >= stop_after:
                    break
                first = position - len(window)
                batches = _batches(
                    window, first, tokenizer, settings, special, punctuation
                )
                for part, norm_part in run_all(_batch_sums, batches):
                    sums = sums.merge(part)
                    if norm_sums is not None:
                        norm_sums = norm_sums.merge(norm_part)
                _keep_examples(examples, sums, window, first)
                fingerprint(digest, window)
                done = position
                if checkpoint is not None:
                    partial = CorpusStatistics(sums, examples, norm_sums)
                    meta = {
                        "texts_done": done,
                        "fingerprint": digest.hexdigest(),
                        "made_with": record,
                    }
                    write_statistics(checkpoint, partial, meta)
                report(done)
    finally:
        report.close()  # also when interrupted: the checkpoint has the rest
    if position < done:
        raise ValueError(_other_texts(checkpoint, done))
    return CorpusStatistics(sums, examples, norm_sums)


def _checked_settings(
    backbone, tokenizer, batch_size, max_length, engine, stop_after, progress
) -> dict[str, int]:
    """The run's settings (a checkpoint's `made_with` holds them), checked."""
    if tokenizer is None or not hasattr(tokenizer, "encode_at_most"):
        raise ValueError(
            f"tokenizer={reprlib.repr(tokenizer)}: allowed: the backbone's "
            "DistilBertTokenizer, e.g. DistilBertTokenizer.from_preset(...)"
        )
    if tokenizer.vocabulary_size > backbone.vocabulary_size:
        raise ValueError(
            f"tokenizer: {tokenizer.vocabulary_size} tokens but the backbone "
            f"embeds {backbone.vocabulary_size}; allowed: the backbone's tokenizer"
        )
    top = backbone.max_sequence_length
    for name, value, low, high in (
        ("batch_size", batch_size, 1, None),
        ("max_length", max_length, 2, top),
        ("stop_after", stop_after, 1, None),
    ):
        if value is None and name == "stop_after":
            continue
        allowed = f"an int >= {low}" if high is None else f"an int, {low}..{high}"
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise ValueError(f"{name}={value!r}: allowed: {allowed}")
        if value < low or (high is not None and value > high):
            raise ValueError(f"{name}={value}: allowed: {allowed}")
    if engine not in ENGINES:
        raise ValueError(f"engine={engine!r}: allowed: None (this process) or 'dask'")
    if not (isinstance(progress, bool) or callable(progress)):
        raise ValueError(
            f"progress={progress!r}: allowed: True, False or a function "
            "progress(texts_done, texts_total)"
        )
    return {"batch_size": int(batch_size), "max_length": int(max_length)}


def _resume(checkpoint, backbone, settings, this_run) -> tuple:
    """(texts done, their sums, norm sums, example texts, their fingerprint).

    `this_run()` computes this run's `made_with` record (only when there is
    a checkpoint: it hashes the weights and reads the texts once); a
    checkpoint made otherwise is refused before anything is written to it.
    """
    fresh = CorpusSums.zeros(backbone.num_layers, backbone.num_heads)
    start = (0, fresh, fresh if settings["norms"] else None, {}, "", None)
    if checkpoint is None:
        return start
    path = checked_path("checkpoint", checkpoint)
    if path.suffix != ".npz":
        raise ValueError(
            f"checkpoint={str(path)!r}: allowed: a file name ending in .npz"
        )
    if not path.exists():
        if not path.parent.is_dir():
            raise FileNotFoundError(
                f"checkpoint={str(path)!r}: folder {str(path.parent)!r} does not "
                "exist; allowed: a file in an existing folder"
            )
        return (*start[:5], this_run())
    stats, progress = read_statistics(CorpusStatistics, path)
    record = this_run()
    check_made_with(path, progress.get("made_with"), record)
    return (
        int(progress["texts_done"]),
        stats.sums,
        stats.norm_sums,
        dict(stats.example_texts),
        str(progress["fingerprint"]),
        record,
    )


def _made_with(backbone, tokenizer, settings, start_stream) -> dict:
    """This run's `made_with` record (`corpus.file.made_with`)."""
    from keras import ops

    policy = backbone.dtype_policy
    model = {
        **{field: getattr(backbone, field) for field in CONFIG_FIELDS[:5]},
        "max_sequence_length": backbone.max_sequence_length,
        "dtype": getattr(policy, "default_policy", policy).name,
        "quantization": list(getattr(backbone, "quantization_modes", ())),
    }
    arrays = (ops.convert_to_numpy(variable.value) for variable in backbone.weights)
    return made_with(model, arrays, tokenizer, settings, start_stream())


def _other_texts(checkpoint, done: int) -> str:
    return (
        f"checkpoint={str(checkpoint)!r}: its first {done} texts are not these "
        "texts' first; allowed: the texts it was written for, or a new "
        "checkpoint path"
    )


def _batches(window, first, tokenizer, settings, special, punctuation) -> list[_Batch]:
    """The window's texts tokenized, sorted by length, cut into batches."""
    encoding = tokenizer.encode_at_most(window, settings["max_length"])
    lengths = encoding.padding_mask.sum(axis=1)
    order = np.argsort(lengths, kind="stable")
    size = settings["batch_size"]
    batches = []
    for start in range(0, len(order), size):
        rows = order[start : start + size]
        width = int(lengths[rows].max())
        batches.append(
            _Batch(
                token_ids=np.ascontiguousarray(encoding.token_ids[rows, :width]),
                padding_mask=np.ascontiguousarray(encoding.padding_mask[rows, :width]),
                text_index=first + rows.astype(np.int64),
                special_ids=special,
                punctuation=punctuation,
                norms=settings["norms"],
            )
        )
    return batches


def _keep_examples(examples: dict, sums: CorpusSums, window, first: int) -> None:
    """Keep the texts the best indices point at; forget the ones they left."""
    wanted = {int(i) for i in np.unique(sums.best_index) if i >= 0}
    for index in wanted:
        if index not in examples and first <= index < first + len(window):
            examples[index] = window[index - first]
    for index in set(examples) - wanted:
        del examples[index]


class _Progress:
    def __init__(self, progress, total: int) -> None:
        self.total, self.bar, self.function = total, None, None
        if progress is True:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, unit="text", desc="corpus statistics")
        elif callable(progress):
            self.function = progress

    def __call__(self, done: int) -> None:
        if self.bar is not None:
            self.bar.update(done - self.bar.n)
        if self.function is not None:
            self.function(done, self.total)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
