"""Tokenizer directories: read keras-hub and Hugging Face ones, write keras-hub.

A DistilBERT tokenizer comes as a keras-hub preset (`tokenizer.json` +
`assets/tokenizer/vocabulary.txt`) or a Hugging Face checkpoint (`vocab.txt`
+ `tokenizer_config.json`, or only an HF `tokenizer.json`).
`DistilBertTokenizer.from_directory`, `from_preset` and `save_to_preset`
delegate here, so the tokenizer class stays free of file formats and hubs; the
class to build is passed in (`cls`), so this module never imports it.
"""

from __future__ import annotations

import json
import os
import reprlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from distil_explorer._internal.atomic_write import checked_path, write_files
from distil_explorer._internal.json_files import read_json, require_type
from distil_explorer._internal.text_lines import utf8_lines
from distil_explorer.errors import FileFormatError

KERAS_HUB_CONFIG_FILE = "tokenizer.json"
KERAS_HUB_VOCABULARY_FILE = "assets/tokenizer/vocabulary.txt"
HF_VOCABULARY_FILE = "vocab.txt"
HF_CONFIG_FILE = "tokenizer_config.json"
_KERAS_HUB_CLASSES = ("DistilBertTokenizer", "BertTokenizer")
_FORMATS = (
    "a keras-hub preset (tokenizer.json + assets/tokenizer/vocabulary.txt) or "
    "a Hugging Face directory (vocab.txt [+ tokenizer_config.json], or an HF "
    "WordPiece tokenizer.json)"
)


def load_tokenizer(cls: type, preset: str) -> Any:
    """Build `cls` from a preset; see `DistilBertTokenizer.from_preset`."""
    # Imported per call: reading a directory needs no resolver, and tests
    # stand a fake one in for it in sys.modules.
    from distil_explorer.weights.locate import preset_directory

    return read_tokenizer(cls, preset_directory(preset))


def read_tokenizer(cls: type, path: str | os.PathLike) -> Any:
    """Build `cls` from a directory; see `DistilBertTokenizer.from_directory`."""
    directory = checked_path("path", path)
    if not directory.is_dir():
        raise FileNotFoundError(
            f"path={str(path)!r}: not a directory; allowed: {_FORMATS}"
        )
    json_path = directory / KERAS_HUB_CONFIG_FILE
    data = _read_json(json_path) if json_path.is_file() else None
    if isinstance(data, dict) and "class_name" in data and "config" in data:
        return _from_keras_hub(cls, directory, data)
    if (directory / HF_VOCABULARY_FILE).is_file():
        return _from_transformers(cls, directory)
    if isinstance(data, dict) and "model" in data:
        return _from_transformers_json(cls, json_path, data)
    if data is not None:
        raise FileFormatError(
            f"{json_path}: neither a keras-hub tokenizer.json (an object with "
            "class_name and config) nor a Hugging Face one (an object with "
            f"model); allowed: {_FORMATS}",
            path=str(json_path),
        )
    raise FileNotFoundError(
        f"path={str(path)!r}: no tokenizer files found; allowed: {_FORMATS}"
    )


def save_tokenizer(
    tokenizer: Any, path: str | os.PathLike, overwrite: bool = False
) -> None:
    """Write `tokenizer` as a keras-hub preset; see `save_to_preset`."""
    if not isinstance(overwrite, bool):
        raise ValueError(f"overwrite={overwrite!r}: not a bool; allowed: True, False")
    directory = checked_path("path", path)
    files = {
        directory / KERAS_HUB_CONFIG_FILE: json.dumps(
            _keras_hub_config(tokenizer), indent=4
        ),
        directory / KERAS_HUB_VOCABULARY_FILE: "".join(
            f"{token}\n" for token in tokenizer.vocabulary
        ),
    }
    if not overwrite:
        for target, text in files.items():
            if target.exists() and target.read_bytes() != text.encode("utf-8"):
                raise FileExistsError(
                    f"path={str(path)!r}: {target} already holds a different "
                    "tokenizer; allowed: a new or empty directory, one holding "
                    "this same tokenizer, or overwrite=True"
                )
    write_files(files, make_folders=True)


def _keras_hub_config(tokenizer: Any) -> dict[str, Any]:
    settings = tokenizer.get_config()
    config = {
        "name": "distil_bert_tokenizer",
        "trainable": True,
        "dtype": {
            "module": "keras",
            "class_name": "DTypePolicy",
            "config": {"name": "int32"},
            "registered_name": None,
        },
        "config_file": KERAS_HUB_CONFIG_FILE,
        "vocabulary": None,
        "sequence_length": None,
        "lowercase": settings["lowercase"],
        "strip_accents": settings["strip_accents"],
        "split": True,
        "suffix_indicator": "##",
        "oov_token": "[UNK]",
        "special_tokens": None,
        "special_tokens_in_strings": settings["special_tokens_in_strings"],
    }
    if not settings["tokenize_chinese_chars"]:
        # keras-hub's get_config omits split_on_cjk, but its constructor
        # accepts it; written only when it differs from the default.
        config["split_on_cjk"] = False
    return {
        "module": "keras_hub.src.models.distil_bert.distil_bert_tokenizer",
        "class_name": "DistilBertTokenizer",
        "config": config,
        "registered_name": "keras_hub>DistilBertTokenizer",
    }


def _from_keras_hub(cls: type, directory: Path, data: dict) -> Any:
    source = directory / KERAS_HUB_CONFIG_FILE
    if data["class_name"] not in _KERAS_HUB_CLASSES:
        raise FileFormatError(
            f"{source}: class_name={data['class_name']!r} is not a BERT "
            f"WordPiece tokenizer; allowed: {', '.join(_KERAS_HUB_CLASSES)}",
            path=str(source),
            field="class_name",
        )
    config = require_type(data["config"], dict, source, "config")
    for key, allowed in (
        ("split", True),
        ("suffix_indicator", "##"),
        ("oov_token", "[UNK]"),
    ):
        _require(config, key, allowed, source)
    vocabulary = directory / KERAS_HUB_VOCABULARY_FILE
    if not vocabulary.is_file():
        raise FileNotFoundError(
            f"{vocabulary}: missing; {source} is a keras-hub tokenizer, which "
            f"needs its vocabulary in {KERAS_HUB_VOCABULARY_FILE}"
        )
    settings = {
        "lowercase": _flag(config, "lowercase", False, source, "config."),
        "strip_accents": _flag(config, "strip_accents", False, source, "config."),
        "tokenize_chinese_chars": _flag(
            config, "split_on_cjk", True, source, "config."
        ),
        "special_tokens_in_strings": _flag(
            config, "special_tokens_in_strings", False, source, "config."
        ),
    }
    return cls(vocabulary, **settings)


def _from_transformers(cls: type, directory: Path) -> Any:
    config_path = directory / HF_CONFIG_FILE
    config = _read_json(config_path) if config_path.is_file() else {}
    config = require_type(config, dict, config_path, None)
    _require(config, "do_basic_tokenize", True, config_path)
    # Older files store special tokens as AddedToken dicts.
    tokens = {
        key: value.get("content") if isinstance(value, dict) else value
        for key, value in config.items()
        if key.endswith("_token")
    }
    for name in ("unk", "sep", "pad", "cls", "mask"):
        _require(tokens, f"{name}_token", f"[{name.upper()}]", config_path)
    lowercase = _flag(config, "do_lower_case", True, config_path)
    return cls(
        directory / HF_VOCABULARY_FILE,
        lowercase=lowercase,
        strip_accents=_flag(config, "strip_accents", None, config_path),
        tokenize_chinese_chars=_flag(
            config, "tokenize_chinese_chars", True, config_path
        ),
    )


def _from_transformers_json(cls: type, source: Path, data: dict) -> Any:
    model = require_type(data["model"] or {}, dict, source, "model")
    _require(model, "type", "WordPiece", source)
    _require(model, "continuing_subword_prefix", "##", source)
    _require(model, "unk_token", "[UNK]", source)
    normalizer = data.get("normalizer") or {}
    normalizer = require_type(normalizer, dict, source, "normalizer")
    _require(normalizer, "type", "BertNormalizer", source)
    vocab = require_type(model.get("vocab") or {}, dict, source, "model.vocab")
    by_id = {}
    for token, i in vocab.items():
        by_id[require_type(i, int, source, f"model.vocab.{token}")] = token
    if sorted(by_id) != list(range(len(vocab))):
        raise FileFormatError(
            f"{source}: model.vocab ids are not 0..{len(vocab) - 1}; "
            "allowed: a WordPiece vocabulary with consecutive ids",
            path=str(source),
            field="model.vocab",
        )
    settings = {
        "lowercase": _flag(normalizer, "lowercase", True, source, "normalizer."),
        "strip_accents": _flag(
            normalizer, "strip_accents", None, source, "normalizer."
        ),
        "tokenize_chinese_chars": _flag(
            normalizer, "handle_chinese_chars", True, source, "normalizer."
        ),
    }
    return cls([by_id[i] for i in range(len(by_id))], **settings)


def _read_json(path: Path) -> Any:
    return read_json(path, "a JSON file")


def _flag(config: dict, key: str, default: Any, source: Path, prefix: str = ""):
    """A true/false setting (None allowed where `default` is None)."""
    value = config.get(key, default)
    if value is None and default is None:
        return None
    return require_type(value, bool, source, prefix + key)


def _require(config: dict, key: str, allowed: Any, source: Path) -> None:
    value = config.get(key, allowed)
    if value != allowed or type(value) is not type(allowed):
        raise FileFormatError(
            f"{source}: {key}={value!r} is not supported; allowed: {allowed!r}",
            path=str(source),
            field=key,
        )


def vocabulary_list(vocabulary: Any, required: Sequence[str]) -> list[str]:
    """The tokens of a vocabulary file or list (line number = id), checked.

    Examples:
    ```python
    vocabulary_list("vocab.txt", ("[PAD]", "[UNK]", "[CLS]", "[SEP]"))
    ```
    """
    if isinstance(vocabulary, (str, os.PathLike)):
        source = str(vocabulary)
        path = Path(vocabulary).expanduser()
        if not path.is_file():
            raise FileNotFoundError(
                f"vocabulary={source!r}: no such file; allowed: a vocab.txt or "
                "vocabulary.txt with one token per line, or a list of str"
            )
        # Hugging Face's load_vocab strips only the line break.
        allowed = "one token per line, UTF-8"
        tokens = [line for _, line in utf8_lines(path, "vocabulary", allowed)]
        problem = FileFormatError
    elif isinstance(vocabulary, Sequence):
        source = f"<list of {len(vocabulary)} tokens>"
        tokens = list(vocabulary)
        problem = ValueError
        bad = next((t for t in tokens if not isinstance(t, str)), None)
        if bad is not None:
            raise ValueError(
                f"vocabulary={source}: holds a {type(bad).__name__} ({bad!r}); "
                "allowed: a list of str"
            )
    else:
        raise ValueError(
            f"vocabulary={reprlib.repr(vocabulary)}: not a vocabulary; allowed: "
            "a path to a vocab.txt / vocabulary.txt, or a list of str"
        )
    if not tokens:
        raise problem(
            f"vocabulary={source!r}: empty; allowed: one token per line, "
            f"including {', '.join(required)}"
        )
    missing = [t for t in required if t not in tokens]
    if missing:
        raise problem(
            f"vocabulary={source!r}: lacks {', '.join(missing)}; allowed: a "
            f"vocabulary holding {', '.join(required)}"
        )
    return tokens
