"""Long texts are cut before tokenizing, and the cut never changes a token.

Oracle: transformers' BertTokenizerFast on the real bert-base-uncased
vocabulary, given the whole text and truncating it itself. A spy on the
Rust tokenizer shows that no path (the tokenizer, capture, the corpus, the
CLI) hands it more than the character budget of a 5 MB line.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from distil_explorer import cli
from distil_explorer._internal import long_texts
from distil_explorer._internal.long_texts import char_budget
from distil_explorer.tokenizer import DistilBertTokenizer

FIXTURES = Path(__file__).parent / "fixtures"
BERT_VOCAB = FIXTURES / "bert_base_uncased" / "vocab.txt"
PRESET = FIXTURES / "keras_hub_tiny" / "preset"
SETTINGS = [(False, None), (True, None), (True, False)]
L = 16
BIG_LINE = ("The quick brown fox jumps over the lazy dog; café déjà vu! " * 90_000)[
    :5_000_000
]


@pytest.fixture(scope="module")
def oracles(tmp_path_factory):
    transformers = pytest.importorskip("transformers")
    made = {}
    for lowercase, strip_accents in SETTINGS:
        directory = tmp_path_factory.mktemp("hf")
        (directory / "vocab.txt").write_bytes(BERT_VOCAB.read_bytes())
        config = {"do_lower_case": lowercase, "strip_accents": strip_accents}
        (directory / "tokenizer_config.json").write_text(json.dumps(config))
        made[lowercase, strip_accents] = (
            DistilBertTokenizer(BERT_VOCAB, lowercase, strip_accents),
            transformers.BertTokenizerFast.from_pretrained(directory),
        )
    return made


def _expected(oracle, text: str, max_length: int) -> list[int]:
    return oracle(text, truncation=True, max_length=max_length)["input_ids"]


def _count(oracle, text: str) -> int:
    return len(oracle(text)["input_ids"])


# Words that cost many characters and few tokens: accents stripped (or one
# [UNK] over 100 characters when kept), control characters the normalizer
# drops, non-ASCII spaces (not squeezed), CJK ideographs (one token each).
HEAVY_WORDS = {
    "accents": lambda i: "cafe" + "\u0301" * 150,
    "controls": lambda i: "\x01" * 120 + "東京大学"[i % 4],
    "wide_spaces": lambda i: "naïve" + "\u3000" * 130,
    "mixed": lambda i: ["résumé", "猫", "\u00a0" * 900, "Straße"][i % 4],
}


@pytest.mark.parametrize("kind", sorted(HEAVY_WORDS))
@pytest.mark.parametrize("extra", [-1, 0, 1, 5])
@pytest.mark.parametrize("setting", SETTINGS)
def test_a_text_of_about_max_length_tokens_keeps_its_ids(oracles, kind, extra, setting):
    ours, oracle = oracles[setting]
    words = []
    while _count(oracle, " ".join(words)) < L + extra:
        words.append(HEAVY_WORDS[kind](len(words)))
    while _count(oracle, " ".join(words)) > L + extra:  # a word of many pieces
        words[-1:] = ["\u3000" * 50]
    while _count(oracle, " ".join(words)) < L + extra:
        words.append("猫")
    text = " ".join(words)
    assert _count(oracle, text) == L + extra
    assert len(text) > char_budget(L)  # the cut is tried
    encoding = ours.encode_at_most(text, L)
    assert encoding.token_ids[0].tolist() == _expected(oracle, text, L)
    padded = ours(text, sequence_length=L)
    assert padded.token_ids[0][padded.padding_mask[0] == 1].tolist() == _expected(
        oracle, text, L
    )


PIECES = st.sampled_from(
    [
        "the",
        "cat",
        "unaffable",
        "café",
        "e\u0301\u0301",
        "東",
        "[MASK]",
        "[",
        "MASK]",
        "x" * 150,
        "ab" * 80,
        " ",
        "   \t\n",
        "\u3000",
        "\x00\x01",
        ",",
        "Straße",
    ]
)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    pieces=st.lists(PIECES, min_size=1, max_size=60),
    repeat=st.integers(1, 60),
    max_length=st.integers(2, 12),
    setting=st.sampled_from(SETTINGS),
)
def test_the_cut_never_changes_tokens(oracles, pieces, repeat, max_length, setting):
    ours, oracle = oracles[setting]
    text = "".join(pieces) * repeat
    got = ours.encode_at_most([text, "the"], max_length).token_ids[0]
    expected = _expected(oracle, text, max_length)
    assert got[: len(expected)].tolist() == expected


class Spy:
    """Records the longest text each Rust tokenizer is handed."""

    def __init__(self, monkeypatch):
        self.longest = 0
        original = DistilBertTokenizer._backend
        spy = self

        class Recording:
            def __init__(self, backend):
                self._backend = backend

            def encode(self, text, *args, **kwargs):
                spy.longest = max(spy.longest, len(text))
                return self._backend.encode(text, *args, **kwargs)

            def encode_batch(self, texts, *args, **kwargs):
                spy.longest = max(spy.longest, *map(len, texts))
                return self._backend.encode_batch(texts, *args, **kwargs)

            def __getattr__(self, name):
                return getattr(self._backend, name)

        monkeypatch.setattr(
            DistilBertTokenizer,
            "_backend",
            lambda tokenizer, length: Recording(original(tokenizer, length)),
        )


@pytest.fixture
def spy(monkeypatch):
    return Spy(monkeypatch)


def test_a_5_mb_line_reaches_the_rust_tokenizer_cut(spy, oracles):
    ours, oracle = oracles[True, None]
    encoding = ours.encode_at_most([BIG_LINE, "a short one"], 64)
    assert spy.longest <= char_budget(64)
    head = BIG_LINE[: char_budget(64)]
    assert encoding.token_ids[0].tolist() == _expected(oracle, head, 64)


@pytest.mark.parametrize(
    "line",
    ["x" * 5_000_000, "word" + " " * 5_000_000 + "end", "a b " + "7f" * 2_500_000],
)
def test_padding_and_blobs_are_squeezed_not_tokenized_whole(spy, oracles, line):
    ours, oracle = oracles[True, None]
    encoding = ours.encode_at_most(line, 64)
    assert spy.longest <= char_budget(64)
    squeezed = long_texts._LONG_RUNS.sub("x" * 101, " ".join(line.split()))
    assert encoding.token_ids[0].tolist() == _expected(oracle, squeezed, 64)


def test_capture_of_a_5_mb_text_tokenizes_a_prefix(spy):
    from distil_explorer import DistilBertBackbone
    from distil_explorer.trace import capture

    backbone = DistilBertBackbone.from_preset(str(PRESET))
    tokenizer = DistilBertTokenizer.from_preset(str(PRESET))
    trace = capture(backbone, BIG_LINE, tokenizer=tokenizer)
    length = backbone.max_sequence_length
    assert spy.longest <= char_budget(length)
    assert trace.tokens[0][0] == "[CLS]" and len(trace.tokens[0]) == length


def test_corpus_and_cli_cut_a_5_mb_line(spy, tmp_path, capsys):
    texts = tmp_path / "texts.txt"
    texts.write_text(f"the cat sat\n{BIG_LINE}\na cat\n")
    out = tmp_path / "stats.npz"
    arguments = ["corpus", "--preset", str(PRESET), "--texts", str(texts)]
    assert cli.main([*arguments, "-o", str(out), "--max-length", "16"]) == 0
    assert "3 texts" in capsys.readouterr().out
    assert 0 < spy.longest <= char_budget(16)
    report = ["report", "--preset", str(PRESET), "--text", BIG_LINE[:100_000]]
    assert cli.main([*report, "-o", str(tmp_path / "r.html")]) == 0
    assert spy.longest <= char_budget(32)  # the tiny model's max_sequence_length


def test_max_length_is_checked_by_name():
    tokenizer = DistilBertTokenizer(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "the"])
    for bad in (1, None, 2.5, True):
        with pytest.raises(ValueError, match=r"max_length=.*allowed: an int >= 2"):
            tokenizer.encode_at_most("the", bad)


def test_char_budget_is_above_what_natural_text_spends():
    ours = DistilBertTokenizer(BERT_VOCAB, lowercase=True)
    ids = ours(BIG_LINE[:20_000]).token_ids[0]
    chars_per_token = 20_000 / len(ids)
    assert chars_per_token * 4 < long_texts.CHARS_PER_TOKEN
    assert np.all(ids > 0)
