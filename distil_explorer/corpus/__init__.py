"""Corpus statistics: what every head does over thousands of texts.

`driver.corpus_statistics` streams texts (`texts`) in batches, here or on a
Dask cluster (`cluster`, `dask_worker`), reduces each to exact sums (`sums`)
and returns a `statistics.CorpusStatistics`, saved in its own format (`file`).
"""

from distil_explorer.corpus.driver import corpus_statistics
from distil_explorer.corpus.statistics import CorpusStatistics
from distil_explorer.corpus.texts import demo_corpus

__all__ = ["CorpusStatistics", "corpus_statistics", "demo_corpus"]
