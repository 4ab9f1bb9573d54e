"""Where a corpus's texts come from: lists, text files, Datasets, the demo corpus.

`corpus_statistics` reads every source the same way: a function that
starts a fresh stream of str (so a resumed run can read the texts again
from the start) and how many texts there are (for the progress bar).
"""

from __future__ import annotations

import os
import re
import reprlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from distil_explorer._internal.text_lines import utf8_lines


def demo_corpus(limit: int | None = None) -> list[str]:
    """About 2,000 English sentences of the Python documentation, offline.

    Every Python ships its reference manual's topics as text
    (`pydoc_data.topics`); this splits their prose paragraphs into
    sentences, leaving out code, tables and duplicates, in a fixed order.

    Args:
        limit: int or None. Only the first `limit` sentences.

    Examples:
    ```python
    texts = demo_corpus(200)
    texts[0]  # a sentence of the Python documentation
    ```
    """
    from pydoc_data.topics import topics

    if limit is not None and (
        isinstance(limit, bool) or not isinstance(limit, int) or limit < 1
    ):
        raise ValueError(f"limit={limit!r}: allowed: an int >= 1, or None")
    sentences: dict[str, None] = {}
    for key in sorted(topics):
        for paragraph in re.split(r"\n\s*\n", topics[key]):
            lines = [line.strip() for line in paragraph.splitlines()]
            if not lines or any(
                line.startswith((">>>", "...", "|", "+-")) for line in lines
            ):
                continue
            text = " ".join(lines)
            for sentence in re.split(r"(?<=[.!?])\s+(?=[A-Z\"'(*])", text):
                sentence = sentence.strip()
                if (
                    4 <= len(sentence.split()) <= 60
                    and sentence[0].isupper()
                    and sentence[-1] in ".!?"
                ):
                    sentences.setdefault(sentence)
    return list(sentences)[:limit]


def text_source(texts: Any, text_column: str) -> tuple[Callable[[], Iterator], int]:
    """(a function that starts a fresh stream of texts, how many there are).

    Examples:
    ```python
    start, total = text_source("texts.txt", "text")
    next(start())  # the first non-empty line
    ```
    """
    if isinstance(texts, (str, os.PathLike)):
        path = Path(texts).expanduser()
        if not path.is_file():
            raise FileNotFoundError(
                f"texts={str(texts)!r}: no such file; allowed: a text file with "
                "one text per line, a list of str, or a datasets.Dataset"
            )

        def lines() -> Iterator[str]:
            allowed = "one text per line, UTF-8"
            for _, line in utf8_lines(path, "texts", allowed):
                if line.strip():  # empty lines are no text
                    yield line.strip()

        return lines, sum(1 for _ in lines())
    if hasattr(texts, "column_names") and hasattr(texts, "iter"):  # a Dataset
        if text_column not in texts.column_names:
            raise ValueError(
                f"text_column={text_column!r}: not a column of this dataset; "
                f"allowed: one of {list(texts.column_names)}"
            )

        def rows() -> Iterator[Any]:
            for chunk in texts.iter(batch_size=1000):
                yield from chunk[text_column]

        return rows, len(texts)
    if isinstance(texts, (list, tuple)):
        return lambda: iter(texts), len(texts)
    raise ValueError(
        f"texts={reprlib.repr(texts)}: allowed: a list of str, a path to a text "
        "file (one text per line), or a Hugging Face datasets.Dataset"
    )


def checked_text(index: int, text: Any) -> str:
    if not isinstance(text, str):
        raise ValueError(
            f"texts: item {index} is a {type(text).__name__} "
            f"({reprlib.repr(text)}); allowed: str"
        )
    return text


def windows(stream: Iterator, size: int) -> Iterator[list[str]]:
    window: list[str] = []
    for index, text in enumerate(stream):
        window.append(checked_text(index, text))
        if len(window) == size:
            yield window
            window = []
    if window:
        yield window


def fingerprint(digest: Any, window: list[str]) -> None:
    for text in window:
        digest.update(text.encode("utf-8", "surrogatepass") + b"\x00")
