"""`DistilBertTokenizer`: BERT WordPiece on Hugging Face's `tokenizers` library.

The normalizer, pre-tokenizer, WordPiece model, `[CLS] ... [SEP]` template,
padding and truncation are all the Rust library's; this module only chooses
their settings. Reading and writing tokenizer directories (keras-hub presets,
Hugging Face checkpoints) is `distil_explorer.weights.tokenizer_files`'s job.
"""

from __future__ import annotations

import dataclasses
import numbers
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors

from distil_explorer._internal.long_texts import cut_texts
from distil_explorer.checks import checked_flag, checked_length, checked_texts
from distil_explorer.weights.tokenizer_files import vocabulary_list

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
REQUIRED_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]")
_MAX_INPUT_CHARS_PER_WORD = 100  # BERT's: longer words become [UNK]
_MAX_CACHED_LENGTHS = 8
_INPUT_KEYS = ("token_ids", "padding_mask")


@dataclasses.dataclass(frozen=True, eq=False)
class Encoding(Mapping):
    """A tokenized batch: ids and padding mask for the backbone, plus strings.

    All rows have the same length: the longest row, or the `sequence_length`
    asked for. Arrays are read-only. Like Hugging Face's `BatchEncoding`, an
    Encoding is a read-only mapping of the model's inputs (`"token_ids"`,
    `"padding_mask"`), so `backbone(encoding)` and
    `capture(backbone, encoding)` take it as it is.

    Attributes:
        token_ids: int32 (B, T). `[CLS]` first, `[SEP]` after the last real
            token, `[PAD]`'s id after it.
        padding_mask: int32 (B, T), 1 for real tokens (`[CLS]` and `[SEP]`
            included) and 0 for padding.
        tokens: the token string at every position, `"[PAD]"` at padding;
            same shape as `token_ids`.

    Examples:
    ```python
    encoding = tokenizer(["The cat sat.", "Hello"])
    encoding.tokens[1]  # ('[CLS]', 'hello', '[SEP]', '[PAD]', '[PAD]', '[PAD]')
    backbone(encoding)  # the same as backbone(encoding.inputs)
    list(encoding)  # ["token_ids", "padding_mask"]
    ```
    """

    token_ids: np.ndarray
    padding_mask: np.ndarray
    tokens: tuple[tuple[str, ...], ...]

    # Identity, as before it was a Mapping (Mapping's == compares arrays).
    __eq__ = object.__eq__
    __hash__ = object.__hash__

    def __getitem__(self, key: str) -> np.ndarray:
        if key not in _INPUT_KEYS:
            raise KeyError(key)
        return getattr(self, key)

    def __iter__(self):
        return iter(_INPUT_KEYS)

    def __len__(self) -> int:
        return len(_INPUT_KEYS)

    @property
    def inputs(self) -> dict[str, np.ndarray]:
        """`{"token_ids", "padding_mask"}`, the backbone's inputs."""
        return {"token_ids": self.token_ids, "padding_mask": self.padding_mask}


class DistilBertTokenizer:
    """A DistilBERT (BERT) WordPiece tokenizer on Hugging Face `tokenizers`.

    Text is cleaned (control characters dropped, whitespace unified),
    optionally lowercased and stripped of accents, split on whitespace,
    punctuation and around CJK ideographs, then cut into WordPiece tokens
    (`##` marks a continuation; a word with no split, or longer than 100
    characters, is `[UNK]`). This is Hugging Face `BertTokenizer`'s
    pipeline, and the tests hold it to `transformers` id for id.

    Args:
        vocabulary: list of str, or path to a `vocab.txt` / `vocabulary.txt`
            with one token per line (line number = id). Must hold `[PAD]`,
            `[UNK]`, `[CLS]` and `[SEP]`.
        lowercase: bool. Lowercase the text first.
        strip_accents: bool or None. Remove accents (NFD, then drop marks).
            None follows `lowercase`, as in Hugging Face's `BertTokenizer`;
            keras-hub's uncased DistilBERT sets `lowercase=True,
            strip_accents=False`.
        sequence_length: int or None. Default output length, `[CLS]` and
            `[SEP]` included: longer texts are truncated (keeping `[SEP]`
            last), shorter ones padded. None pads to the batch's longest row.
        tokenize_chinese_chars: bool. Split around every CJK ideograph.
        special_tokens_in_strings: bool. Read `[MASK]`, `[SEP]`, ... typed in
            the text as those tokens (Hugging Face does); False splits them
            like any text (keras-hub's default).

    Examples:
    ```python
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "cat", "s", "##at"]
    tokenizer = DistilBertTokenizer(vocab, lowercase=True)
    tokenizer("The cat sat").token_ids  # [[2, 5, 6, 7, 8, 3]]
    tokenizer(["the", "the cat"]).padding_mask  # [[1, 1, 1, 0], [1, 1, 1, 1]]
    DistilBertTokenizer.from_preset("distil_bert_base_en_uncased")
    ```
    """

    def __init__(
        self,
        vocabulary: str | os.PathLike | list[str],
        lowercase: bool = False,
        strip_accents: bool | None = None,
        sequence_length: int | None = None,
        *,
        tokenize_chinese_chars: bool = True,
        special_tokens_in_strings: bool = True,
    ) -> None:
        self._vocabulary = vocabulary_list(vocabulary, REQUIRED_TOKENS)
        # Duplicate tokens: the last id wins, as in Hugging Face's load_vocab.
        self._token_to_id = {token: i for i, token in enumerate(self._vocabulary)}
        self._lowercase = checked_flag("lowercase", lowercase)
        if strip_accents is None:
            strip_accents = self._lowercase
        self._strip_accents = checked_flag("strip_accents", strip_accents)
        self._sequence_length = checked_length(sequence_length)
        self._tokenize_chinese_chars = checked_flag(
            "tokenize_chinese_chars", tokenize_chinese_chars
        )
        self._special_tokens_in_strings = checked_flag(
            "special_tokens_in_strings", special_tokens_in_strings
        )
        # One configured Rust tokenizer per output length: its padding and
        # truncation are state, and mutating a shared one per call would race.
        self._backends: dict[int | None, Tokenizer] = {}

    @property
    def lowercase(self) -> bool:
        """bool. Whether text is lowercased."""
        return self._lowercase

    @property
    def strip_accents(self) -> bool:
        """bool. Whether accents are stripped (None resolved at construction)."""
        return self._strip_accents

    @property
    def sequence_length(self) -> int | None:
        """int or None. Default output length, `[CLS]` and `[SEP]` included."""
        return self._sequence_length

    @property
    def tokenize_chinese_chars(self) -> bool:
        """bool. Whether text is split around CJK ideographs."""
        return self._tokenize_chinese_chars

    @property
    def special_tokens_in_strings(self) -> bool:
        """bool. Whether `[MASK]` etc. typed in text become those tokens."""
        return self._special_tokens_in_strings

    @property
    def vocabulary_size(self) -> int:
        """int. Number of vocabulary lines: the embedding table's row count."""
        return len(self._vocabulary)

    @property
    def vocabulary(self) -> list[str]:
        """list of str. A copy of the vocabulary; index = id."""
        return list(self._vocabulary)

    def get_config(self) -> dict[str, Any]:
        """The constructor arguments except `vocabulary`, resolved.

        Examples:
        ```python
        DistilBertTokenizer(vocab, **tokenizer.get_config())  # same tokenizer
        ```
        """
        return {
            "lowercase": self._lowercase,
            "strip_accents": self._strip_accents,
            "sequence_length": self._sequence_length,
            "tokenize_chinese_chars": self._tokenize_chinese_chars,
            "special_tokens_in_strings": self._special_tokens_in_strings,
        }

    def __repr__(self) -> str:
        settings = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return (
            f"DistilBertTokenizer(vocabulary_size={self.vocabulary_size}, {settings})"
        )

    def token_to_id(self, token: str) -> int:
        """The id of `token`.

        Examples:
        ```python
        tokenizer.token_to_id("[CLS]")  # 101 for bert-base-uncased
        ```
        """
        if token not in self._token_to_id:
            raise ValueError(
                f"token={token!r}: not in the vocabulary; allowed: one of the "
                f"{self.vocabulary_size} vocabulary tokens"
            )
        return self._token_to_id[token]

    def id_to_token(self, id: int) -> str:
        """The token string of `id`.

        Examples:
        ```python
        tokenizer.id_to_token(101)  # "[CLS]" for bert-base-uncased
        ```
        """
        if (
            isinstance(id, bool)
            or not isinstance(id, numbers.Integral)
            or not 0 <= id < self.vocabulary_size
        ):
            raise ValueError(
                f"id={id!r}: not a vocabulary id; allowed: an int in "
                f"[0, {self.vocabulary_size - 1}]"
            )
        return self._vocabulary[int(id)]

    def __call__(
        self, texts: str | Sequence[str], sequence_length: int | None = None
    ) -> Encoding:
        """Tokenize a text or a batch of texts into an `Encoding`.

        Args:
            texts: str or non-empty sequence of str. A single str is a batch
                of one.
            sequence_length: int or None. Output length for this call,
                `[CLS]` and `[SEP]` included; None uses the tokenizer's
                `sequence_length`, and if that is None too, the longest row.

        Examples:
        ```python
        tokenizer(["a short one", "a longer sentence here"], sequence_length=8)
        ```
        """
        batch = checked_texts(texts)
        length = checked_length(sequence_length)
        if length is None:
            length = self._sequence_length
        if length is not None:
            batch = self._cut(batch, length)
        encodings = self._backend(length).encode_batch(batch)
        token_ids = np.array([e.ids for e in encodings], dtype=np.int32)
        padding_mask = np.array([e.attention_mask for e in encodings], dtype=np.int32)
        token_ids.flags.writeable = False
        padding_mask.flags.writeable = False
        tokens = tuple(tuple(e.tokens) for e in encodings)
        return Encoding(token_ids=token_ids, padding_mask=padding_mask, tokens=tokens)

    def encode_at_most(self, texts: str | Sequence[str], max_length: int) -> Encoding:
        """Pad to the longest row, but never past `max_length` tokens.

        When any row is longer, every row is truncated (keeping `[SEP]` last)
        and padded to exactly `max_length`. Texts far longer are cut first,
        never changing a token (`_internal.long_texts`): memory follows
        `max_length`, not the text.

        Examples:
        ```python
        tokenizer.encode_at_most(long_text, backbone.max_sequence_length)
        ```
        """
        max_length = checked_length(max_length, "max_length")
        batch = self._cut(checked_texts(texts), max_length)
        encoding = self(batch)
        if encoding.token_ids.shape[1] > max_length:
            encoding = self(batch, sequence_length=max_length)
        return encoding

    def _cut(self, batch: list[str], max_length: int) -> list[str]:
        special = SPECIAL_TOKENS if self._special_tokens_in_strings else ()
        return cut_texts(batch, max_length, self._backend(None), special)

    def _backend(self, length: int | None) -> Tokenizer:
        backend = self._backends.get(length)
        if backend is not None:
            return backend
        ids = self._token_to_id
        backend = Tokenizer(
            models.WordPiece(
                ids,
                unk_token="[UNK]",
                max_input_chars_per_word=_MAX_INPUT_CHARS_PER_WORD,
            )
        )
        backend.normalizer = normalizers.BertNormalizer(
            clean_text=True,
            handle_chinese_chars=self._tokenize_chinese_chars,
            strip_accents=self._strip_accents,
            lowercase=self._lowercase,
        )
        backend.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        backend.post_processor = processors.TemplateProcessing(
            single="[CLS] $A [SEP]",
            special_tokens=[("[CLS]", ids["[CLS]"]), ("[SEP]", ids["[SEP]"])],
        )
        if self._special_tokens_in_strings:
            backend.add_special_tokens([t for t in SPECIAL_TOKENS if t in ids])
        if length is not None:
            # The library counts the template's [CLS] and [SEP] in max_length.
            backend.enable_truncation(max_length=length)
        backend.enable_padding(pad_id=ids["[PAD]"], pad_token="[PAD]", length=length)
        if len(self._backends) >= _MAX_CACHED_LENGTHS:
            self._backends.clear()
        self._backends[length] = backend
        return backend

    @classmethod
    def from_directory(cls, path: str | os.PathLike) -> DistilBertTokenizer:
        """Load a tokenizer from a keras-hub preset or Hugging Face directory.

        The format is read from the files: a `tokenizer.json` with
        `class_name` and `config` is keras-hub's (its `lowercase` and
        `strip_accents` are honoured as written); otherwise `vocab.txt` with
        the optional `tokenizer_config.json` is Hugging Face's
        (`do_lower_case` defaults to True, `strip_accents` follows it); a
        Hugging Face `tokenizer.json` (WordPiece `model`) serves when there is
        no `vocab.txt`. keras-hub's tokenizer-level `sequence_length` counts
        tokens without `[CLS]`/`[SEP]`, so it is not read.

        Args:
            path: str or PathLike. The directory.

        Examples:
        ```python
        DistilBertTokenizer.from_directory("tests/fixtures/keras_hub_tiny/preset")
        DistilBertTokenizer.from_directory("~/models/distilbert-base-uncased")
        ```
        """
        from distil_explorer.weights.tokenizer_files import read_tokenizer

        return read_tokenizer(cls, path)

    @classmethod
    def from_preset(cls, preset: str) -> DistilBertTokenizer:
        """Load the tokenizer of a preset name, handle or local directory.

        Args:
            preset: str. A built-in preset name (the offline
                `all_minilm_l6_v2_en` included), a `kaggle://` or `hf://`
                handle, or a directory; resolved (and downloaded, if needed)
                by the same resolver as `DistilBertBackbone.from_preset`.

        Examples:
        ```python
        DistilBertTokenizer.from_preset("distil_bert_base_en_uncased")
        DistilBertTokenizer.from_preset("hf://distilbert/distilbert-base-uncased")
        ```
        """
        from distil_explorer.weights.tokenizer_files import load_tokenizer

        return load_tokenizer(cls, preset)

    def save_to_preset(self, path: str | os.PathLike, overwrite: bool = False) -> None:
        """Save as a keras-hub preset: `tokenizer.json` + the vocabulary asset.

        keras-hub's `DistilBertTokenizer.from_preset` reads the result. Other
        files in the directory (a backbone's `config.json`, weights) are left
        alone. Both files are written to temporary names first and renamed
        into place, so a failure leaves no half-written file. Saving the same
        tokenizer again is a no-op; a *different* tokenizer already there is
        an error unless `overwrite=True`. `sequence_length` is not saved
        (keras-hub's tokenizer counts it without `[CLS]`/`[SEP]`).

        Args:
            path: str or PathLike. The preset directory; created if missing.
            overwrite: bool. Replace a different tokenizer already there.

        Examples:
        ```python
        tokenizer.save_to_preset("my_preset")
        DistilBertTokenizer.from_directory("my_preset")
        ```
        """
        from distil_explorer.weights.tokenizer_files import save_tokenizer

        save_tokenizer(self, path, overwrite)
