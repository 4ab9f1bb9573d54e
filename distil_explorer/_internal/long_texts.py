"""Cut texts far longer than `max_length` tokens before the tokenizer sees them.

The Rust tokenizer keeps about 250 bytes of alignment data per character of
a text while it normalizes and splits it, and truncates only at the end: a
5 MB line cost 1.3-1.7 GB to give 64 tokens. `cut_texts` hands it a prefix
instead, and only a prefix that cannot change the tokens.

Why a character budget is only a first guess. Every WordPiece token covers
at least one character of the normalized text, so `max_length` tokens need
at least `max_length` characters; but nothing bounds how many characters
they may need: whitespace, control characters (dropped by the BERT
normalizer), accents (dropped by `strip_accents`) produce no token, and a
word over 100 characters is one `[UNK]` however long it is. Natural text
spends 4-6 characters per token, so `CHARS_PER_TOKEN = 32` per token plus
`CHAR_SLACK` is a generous guess. The prefix is then checked: it is
tokenized without truncation, and kept only when more than `max_length - 2`
of its tokens are settled, meaning the rest of the text cannot change them
(see `_settled`); otherwise the budget is quadrupled. Runs of ASCII
whitespace are first squeezed to one space and runs of over 100 ASCII letters
or digits to 101 of them, neither of which changes a token, so a line of
padding or a 5 MB base-16 blob stays cheap. Peak memory then follows
`max_length` for any text that spends fewer than 32 characters per token
outside such runs; a hostile text of megabytes of control characters,
combining marks or non-ASCII letters with no space is still tokenized
exactly, at the old cost.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

CHARS_PER_TOKEN = 32
CHAR_SLACK = 1024
# BERT's WordPiece turns a word longer than this (after normalization) into [UNK].
MAX_CHARS_PER_WORD = 100
# Squeezes that never change tokens: the tokenizer drops whitespace between
# words, and an ASCII letter or digit run over 100 characters makes its word
# one [UNK] whether it is 101 characters long or 5 million.
_SPACE_RUNS = re.compile(r"[ \t\n\r]{2,}")
_LONG_RUNS = re.compile(rf"[A-Za-z0-9]{{{MAX_CHARS_PER_WORD + 2},}}")


def char_budget(max_length: int) -> int:
    """The first prefix length tried for texts cut to `max_length` tokens.

    Examples:

    >>> char_budget(128)
    5120
    """
    return CHARS_PER_TOKEN * max_length + CHAR_SLACK


def cut_texts(
    texts: Sequence[str], max_length: int, backend: Any, special_tokens: Sequence[str]
) -> list[str]:
    """`texts`, each cut to a prefix with the same first `max_length` tokens.

    A text is cut only when it is longer than `char_budget(max_length)`, and
    only to a prefix that still has more than `max_length - 2` tokens (besides
    `[CLS]` and `[SEP]`), all of them the text's own first tokens; so
    truncating the prefix to `max_length` gives exactly what truncating the
    text would.

    Args:
        texts: the texts.
        max_length: int >= 2. Tokens kept, `[CLS]` and `[SEP]` included.
        backend: a `tokenizers.Tokenizer` with no truncation, whose
            normalizer and pre-tokenizer are the ones that will be used.
        special_tokens: the special tokens the backend matches inside text.

    Examples:
    ```python
    cut_texts(["word " * 10**6], 64, tokenizer._backend(None), ["[MASK]"])
    ```
    """
    budget = char_budget(max_length)
    return [
        _cut(text, max_length - 1, budget, backend, special_tokens) for text in texts
    ]


def _cut(
    text: str, need: int, budget: int, backend: Any, special_tokens: Sequence[str]
) -> str:
    if len(text) > budget:
        text = _SPACE_RUNS.sub(" ", text)
        text = _LONG_RUNS.sub(lambda run: run[0][: MAX_CHARS_PER_WORD + 1], text)
    while len(text) > budget:
        prefix = text[:budget]
        if _settled(prefix, backend.encode(prefix), backend, special_tokens) >= need:
            return prefix
        budget *= 4
    return text


def _settled(prefix: str, encoding: Any, backend: Any, special: Sequence[str]) -> int:
    """How many leading tokens of `prefix` the text after it cannot change.

    The cut splits at most the last word (pre-token): the normalizer works
    character by character (NFD reorders only the marks after one base
    character) and words end at whitespace and punctuation seen before the
    cut, so earlier words keep their pieces. The last word's pieces can
    change, unless it is one `[UNK]` for being over 100 characters (a longer
    word stays `[UNK]`). A special token such as `[MASK]` cut in half would be
    matched in the full text, so nothing from where it starts is settled.
    """
    ids = encoding.word_ids
    content = [i for i, word in enumerate(ids) if word is not None]
    if not content:
        return 0
    last = [i for i in content if ids[i] == ids[content[-1]]]
    if len(last) == 1 and encoding.tokens[last[0]] == "[UNK]":
        word = backend.normalizer.normalize_str(prefix[encoding.offsets[last[0]][0] :])
        if len(word.strip()) > MAX_CHARS_PER_WORD:
            last = []
    limit = len(prefix)
    for token in special:
        for size in range(1, len(token)):
            if prefix.endswith(token[:size]):
                limit = min(limit, len(prefix) - size)
    settled = 0
    for index in content:
        if index in last or encoding.offsets[index][1] > limit:
            break
        settled += 1
    return settled
