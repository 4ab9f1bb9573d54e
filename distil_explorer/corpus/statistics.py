"""`CorpusStatistics`: per-head means over a corpus, a frozen numpy value.

`corpus_statistics` (in `driver`) makes it; `save` and `load` use the
corpus file format (`file`).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np

from distil_explorer.checks import checked_index
from distil_explorer.corpus.file import read_statistics, write_statistics
from distil_explorer.corpus.sums import BINS, STATISTICS, CorpusSums


@dataclasses.dataclass(frozen=True, eq=False)
class CorpusStatistics:
    """Per-head attention statistics of a corpus (Clark et al. 2019).

    Every value is a mean over every real query token of the corpus
    (token-weighted: a long text counts more than a short one; padding never
    counts). See `distil_explorer.corpus.sums` for the definitions.

    Attributes:
        values: dict name -> float64 (num_layers, num_heads), one per
            `STATISTICS` name: "cls", "sep", "punctuation", "self",
            "previous", "next", "entropy" (nats) and "distance" (tokens).
        distributions: float64 (num_layers, num_heads, len(bins)). Each
            head's mean attention mass per bin: [CLS], [SEP], punctuation,
            then the other keys by offset (far left, -3 ... +3, far right).
            Each row sums to 1; `head_distances` compares them.
        bins: the bin names.
        num_texts: int. Texts summed.
        num_tokens: int. Real tokens summed, [CLS] and [SEP] included.
        examples: dict name -> int64 (num_layers, num_heads). Per statistic
            and head, the corpus index of the text where that head's mean
            was highest.
        example_texts: dict int -> str. Those texts, by corpus index.
        sums: the exact `CorpusSums` the means came from (what a resumed or
            distributed run merges).
        norm_values, norm_distributions, norm_sums: the same for the
            norm-weighted attention (`capture(..., norms=True)`, Kobayashi
            et al. 2020), each row normalized to the share of the output's
            norm each key gives; None unless computed with `norms=True`.

    Examples:
    ```python
    stats = de.corpus_statistics(backbone, de.demo_corpus(), tokenizer=tokenizer)
    stats.values["sep"][5, 3]  # mean mass layer 5 head 3 puts on [SEP]
    stats.example_text("sep", 5, 3)  # the text where it put the most there
    stats.save("stats.npz"); CorpusStatistics.load("stats.npz")
    ```
    """

    sums: CorpusSums
    example_texts: dict[int, str]
    norm_sums: CorpusSums | None = None
    values: dict[str, np.ndarray] = dataclasses.field(init=False)
    distributions: np.ndarray = dataclasses.field(init=False)
    examples: dict[str, np.ndarray] = dataclasses.field(init=False)
    norm_values: dict[str, np.ndarray] | None = dataclasses.field(init=False)
    norm_distributions: np.ndarray | None = dataclasses.field(init=False)

    bins = BINS

    def __post_init__(self) -> None:
        tokens = max(self.sums.num_tokens, 1)
        values = {n: _frozen(self.sums.sums[n] / tokens) for n in STATISTICS}
        examples = {
            n: _frozen(self.sums.best_index[i]) for i, n in enumerate(STATISTICS)
        }
        object.__setattr__(self, "values", values)
        object.__setattr__(self, "distributions", _frozen(self.sums.bins / tokens))
        object.__setattr__(self, "examples", examples)
        object.__setattr__(self, "example_texts", dict(self.example_texts))
        norms = self.norm_sums
        object.__setattr__(
            self,
            "norm_values",
            None
            if norms is None
            else {n: _frozen(norms.sums[n] / tokens) for n in STATISTICS},
        )
        object.__setattr__(
            self,
            "norm_distributions",
            None if norms is None else _frozen(norms.bins / tokens),
        )

    @property
    def num_texts(self) -> int:
        return self.sums.num_texts

    @property
    def num_tokens(self) -> int:
        return self.sums.num_tokens

    @property
    def num_layers(self) -> int:
        return self.distributions.shape[0]

    @property
    def num_heads(self) -> int:
        return self.distributions.shape[1]

    def example_text(self, statistic: str, layer: int, head: int) -> str:
        """The text where `head` of `layer` scored highest on `statistic`."""
        if statistic not in STATISTICS:
            raise ValueError(
                f"statistic={statistic!r}: allowed: {', '.join(STATISTICS)}"
            )
        layer = checked_index("layer", layer, self.num_layers)
        head = checked_index("head", head, self.num_heads)
        return self.example_texts[int(self.examples[statistic][layer, head])]

    def save(self, path: str | os.PathLike) -> Path:
        """Write to an `.npz` file (atomically); `CorpusStatistics.load` reads it.

        Examples:
        ```python
        stats.save("stats.npz")
        ```
        """
        return write_statistics(path, self, {})

    @classmethod
    def load(cls, path: str | os.PathLike) -> CorpusStatistics:
        """Read a file written by `save` (or a checkpoint: the texts done so far).

        Nothing is unpickled; anything else raises `FileFormatError`.

        Examples:
        ```python
        stats = CorpusStatistics.load("stats.npz")
        ```
        """
        return read_statistics(CorpusStatistics, path)[0]


def _frozen(array: np.ndarray) -> np.ndarray:
    array = np.array(array)
    array.flags.writeable = False
    return array
