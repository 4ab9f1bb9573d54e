"""A byte that is not UTF-8, in any text file a person hands us, is named by
its line and its offset within the line: the corpus texts, the CLI's
--texts file (and its --text argument), the session's first lines and a
tokenizer's vocabulary file."""

from __future__ import annotations

import os

import pytest

from distil_explorer import cli
from distil_explorer._internal.text_lines import utf8_lines
from distil_explorer.corpus.texts import text_source
from distil_explorer.errors import FileFormatError
from distil_explorer.session.inputs import first_lines
from distil_explorer.tokenizer import DistilBertTokenizer
from tests.test_cli import PRESET

# A first line longer than Python's 8 kB decoding chunk: text mode's own
# error gives an offset into the chunk, which points nowhere useful.
CONTENT = b"x" * 20_000 + b"\nthe cat sat\r\nthe d\xe9g ran\nlast\n"


@pytest.fixture
def bad_file(tmp_path):
    path = tmp_path / "texts.txt"
    path.write_bytes(CONTENT)
    return path


def _check(message: str, argument: str, path) -> None:
    assert message.startswith(f"{argument}={str(path)!r}: line 3 is not UTF-8")
    assert "byte 0xe9 at byte 5 of the line" in message


def test_utf8_lines_names_the_line_and_the_byte(bad_file):
    lines = utf8_lines(bad_file, "texts", "UTF-8")
    assert [next(lines)[0], next(lines)] == [1, (2, "the cat sat")]
    with pytest.raises(FileFormatError) as info:
        next(lines)
    _check(str(info.value), "texts", bad_file)
    assert info.value.path == str(bad_file)


@pytest.mark.parametrize(
    "content",
    [
        b"a\nb\n",
        b"a\r\nb",
        b"a\rb\r",
        b"a\r\r\nb\n\n",
        b"\n\r\n",
        b"",
        b"\xef\xbb\xbfa\r",
    ],
)
def test_lines_break_where_text_mode_breaks_them(tmp_path, content):
    path = tmp_path / "t.txt"
    path.write_bytes(content)
    with open(path, encoding="utf-8") as f:
        expected = [line.removesuffix("\n") for line in f]
    assert [line for _, line in utf8_lines(path, "texts", "UTF-8")] == expected


def test_corpus_texts_name_the_line(bad_file):
    with pytest.raises(FileFormatError) as info:  # counting the texts reads them
        text_source(bad_file, "text")
    _check(str(info.value), "texts", bad_file)


def test_the_session_first_lines_name_the_line(bad_file):
    with pytest.raises(FileFormatError) as info:
        first_lines(str(bad_file), None)
    _check(str(info.value), "texts", bad_file)


def test_a_vocabulary_file_names_the_line(tmp_path):
    path = tmp_path / "vocab.txt"
    path.write_bytes(b"[PAD]\n[UNK]\n[CLS]\xff\n[SEP]\n")
    with pytest.raises(FileFormatError) as info:
        DistilBertTokenizer(path)
    message = str(info.value)
    assert message.startswith(f"vocabulary={str(path)!r}: line 3 is not UTF-8")
    assert "byte 0xff at byte 5 of the line" in message


def test_a_vocabulary_with_windows_line_breaks_reads_as_before(tmp_path):
    path = tmp_path / "vocab.txt"
    path.write_bytes(b"[PAD]\r\n[UNK]\r\n[CLS]\r\n[SEP]\r\nthe\r\n")
    assert DistilBertTokenizer(path).vocabulary[-1] == "the"


def test_the_cli_names_the_line_of_a_texts_file(bad_file, tmp_path, capsys):
    out = str(tmp_path / "stats.npz")
    code = cli.main(
        ["corpus", "--preset", str(PRESET), "--texts", str(bad_file), "-o", out]
    )
    assert code == 2
    error = capsys.readouterr().err
    assert "line 3 is not UTF-8" in error and "at byte 5 of the line" in error


def test_the_cli_names_a_bad_byte_in_its_text_argument(tmp_path, capsys):
    # What Python makes of `--text $'caf\xe9'` given on a UTF-8 command line.
    text = os.fsdecode(b"the caf\xe9")
    out = str(tmp_path / "r.html")
    assert cli.main(["report", "--preset", str(PRESET), "--text", text, "-o", out]) == 2
    error = capsys.readouterr().err
    assert "--text: byte 0xe9 at byte 7 is not UTF-8" in error
    assert not (tmp_path / "r.html").exists()


def test_the_tokenizer_names_a_lone_surrogate():
    tokenizer = DistilBertTokenizer(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "the"])
    with pytest.raises(ValueError, match=r"texts\[1\]=.*character 4 is '\\udce9'"):
        tokenizer(["the", "the \udce9"])
