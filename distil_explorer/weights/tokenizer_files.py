"""Tokenizer directories: read keras-hub and Hugging Face ones, write keras-hub.

A DistilBERT tokenizer comes as a keras-hub preset (`tokenizer.json` +
`assets/tokenizer/vocabulary.txt`) or a Hugging Face checkpoint (`vocab.txt`
+ `tokenizer_config.json`, or only an HF `tokenizer.json`).
`DistilBertTokenizer.from_directory`, `from_preset` and `save_to_preset`
delegate here, so the tokenizer class stays free of file formats and hubs.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from distil_explorer.tokenizer import DistilBertTokenizer

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


def load_tokenizer(cls: type[DistilBertTokenizer], preset: str) -> DistilBertTokenizer:
    """Build `cls` from a preset; see `DistilBertTokenizer.from_preset`."""
    # Imported per call: reading a directory needs no resolver, and tests
    # stand a fake one in for it in sys.modules.
    from distil_explorer.weights.locate import preset_directory

    return read_tokenizer(cls, preset_directory(preset))


def read_tokenizer(
    cls: type[DistilBertTokenizer], path: str | os.PathLike
) -> DistilBertTokenizer:
    """Build `cls` from a directory; see `DistilBertTokenizer.from_directory`."""
    directory = Path(path).expanduser()
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
    raise FileNotFoundError(
        f"path={str(path)!r}: no tokenizer files found; allowed: {_FORMATS}"
    )


def save_tokenizer(
    tokenizer: DistilBertTokenizer, path: str | os.PathLike, overwrite: bool = False
) -> None:
    """Write `tokenizer` as a keras-hub preset; see `save_to_preset`."""
    directory = Path(path).expanduser()
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
    _write_atomically(files)


def _keras_hub_config(tokenizer: DistilBertTokenizer) -> dict[str, Any]:
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


def _from_keras_hub(
    cls: type[DistilBertTokenizer], directory: Path, data: dict
) -> DistilBertTokenizer:
    source = directory / KERAS_HUB_CONFIG_FILE
    if data["class_name"] not in _KERAS_HUB_CLASSES:
        raise ValueError(
            f"{source}: class_name={data['class_name']!r} is not a BERT "
            f"WordPiece tokenizer; allowed: {', '.join(_KERAS_HUB_CLASSES)}"
        )
    config = data["config"]
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
    return cls(
        vocabulary,
        lowercase=config.get("lowercase", False),
        strip_accents=config.get("strip_accents", False),
        tokenize_chinese_chars=config.get("split_on_cjk", True),
        special_tokens_in_strings=config.get("special_tokens_in_strings", False),
    )


def _from_transformers(
    cls: type[DistilBertTokenizer], directory: Path
) -> DistilBertTokenizer:
    config_path = directory / HF_CONFIG_FILE
    config = _read_json(config_path) if config_path.is_file() else {}
    _require(config, "do_basic_tokenize", True, config_path)
    # Older files store special tokens as AddedToken dicts.
    tokens = {
        key: value.get("content") if isinstance(value, dict) else value
        for key, value in config.items()
        if key.endswith("_token")
    }
    for name in ("unk", "sep", "pad", "cls", "mask"):
        _require(tokens, f"{name}_token", f"[{name.upper()}]", config_path)
    return cls(
        directory / HF_VOCABULARY_FILE,
        lowercase=config.get("do_lower_case", True),
        strip_accents=config.get("strip_accents"),
        tokenize_chinese_chars=config.get("tokenize_chinese_chars", True),
    )


def _from_transformers_json(
    cls: type[DistilBertTokenizer], source: Path, data: dict
) -> DistilBertTokenizer:
    model = data["model"] or {}
    _require(model, "type", "WordPiece", source)
    _require(model, "continuing_subword_prefix", "##", source)
    _require(model, "unk_token", "[UNK]", source)
    normalizer = data.get("normalizer") or {}
    _require(normalizer, "type", "BertNormalizer", source)
    vocab = model.get("vocab") or {}
    by_id = {i: token for token, i in vocab.items()}
    if sorted(by_id) != list(range(len(vocab))):
        raise ValueError(
            f"{source}: model.vocab ids are not 0..{len(vocab) - 1}; "
            "allowed: a WordPiece vocabulary with consecutive ids"
        )
    return cls(
        [by_id[i] for i in range(len(by_id))],
        lowercase=normalizer.get("lowercase", True),
        strip_accents=normalizer.get("strip_accents"),
        tokenize_chinese_chars=normalizer.get("handle_chinese_chars", True),
    )


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(
            f"{path}: not valid JSON ({error}); allowed: a JSON file"
        ) from None


def _require(config: dict, key: str, allowed: Any, source: Path) -> None:
    value = config.get(key, allowed)
    if value != allowed:
        raise ValueError(
            f"{source}: {key}={value!r} is not supported; allowed: {allowed!r}"
        )


def _write_atomically(files: dict[Path, str]) -> None:
    temporary: list[str] = []
    try:
        for target, text in files.items():
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(
                dir=target.parent, prefix=f".{target.name}.", suffix=".part"
            )
            temporary.append(tmp)
            with os.fdopen(fd, "wb") as f:
                f.write(text.encode("utf-8"))
        for tmp, target in zip(temporary, files, strict=True):
            os.replace(tmp, target)
    finally:
        for tmp in temporary:
            Path(tmp).unlink(missing_ok=True)
