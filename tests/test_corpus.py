"""corpus_statistics against the same quantities counted by hand from per-text Traces.

The oracle captures each text alone (no padding, no batching, no sorting),
truncates it itself, and walks every query row in plain Python: nothing of
`distil_explorer.corpus.sums` is used to compute what it is compared to.
"""

import json
import unicodedata

import numpy as np
import pytest

from distil_explorer import capture
from distil_explorer.corpus import CorpusStatistics, corpus_statistics, demo_corpus
from distil_explorer.corpus.file import write_statistics
from distil_explorer.errors import FileFormatError
from distil_explorer.tokenizer import DistilBertTokenizer

WORDS = "the cat sat on a mat dog ran far away big small red , . ! ; ? ( ) - —"
WORDS = WORDS.split(" ")
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS, "##s"]
MAX_LENGTH = 16
NAMES = ("cls", "sep", "punctuation", "self", "previous", "next", "entropy", "distance")


def run(backbone, texts, tokenizer, **options):
    """corpus_statistics at MAX_LENGTH, without a progress bar, unless told."""
    options = {"max_length": MAX_LENGTH, "progress": False, **options}
    return corpus_statistics(backbone, texts, tokenizer, **options)


def make_texts(count: int = 40, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    # 1 to 24 words: some texts are truncated at MAX_LENGTH, some are short.
    return [" ".join(rng.choice(WORDS, rng.integers(1, 25))) for _ in range(count)]


@pytest.fixture(scope="module")
def tokenizer():
    return DistilBertTokenizer(VOCAB, lowercase=True)


def make_backbone(seed: int = 1, hidden_dim: int = 12):
    import keras

    from distil_explorer import DistilBertBackbone

    keras.utils.set_random_seed(0)
    model = DistilBertBackbone(
        vocabulary_size=len(VOCAB),
        num_layers=2,
        num_heads=3,
        hidden_dim=hidden_dim,
        intermediate_dim=16,
        dropout=0.0,
        max_sequence_length=24,
    )
    # Larger weights than the initializer's: heads that differ from each
    # other and from uniform attention, so every statistic is tested.
    rng = np.random.default_rng(seed)
    for variable in model.weights:
        variable.assign(rng.normal(0, 0.8, variable.shape).astype("float32"))
    return model


@pytest.fixture(scope="module")
def backbone():
    return make_backbone()


def by_hand(backbone, tokenizer, texts, max_length=MAX_LENGTH, norms=False):
    """Per-head means, bin distributions and best texts, counted row by row.

    With `norms`, of the norm-weighted maps, each row divided by its sum.
    """
    cls_id, sep_id = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    layers, heads = backbone.num_layers, backbone.num_heads
    sums = {name: np.zeros((layers, heads)) for name in NAMES}
    bins = np.zeros((layers, heads, 12))
    best = {name: np.full((layers, heads), -np.inf) for name in NAMES}
    best_text = {name: np.full((layers, heads), -1) for name in NAMES}
    tokens = 0
    for index, text in enumerate(texts):
        ids = list(tokenizer(text).token_ids[0])
        if len(ids) > max_length:  # keep [CLS], the first words, and [SEP]
            ids = ids[: max_length - 1] + [sep_id]
        inputs = {"token_ids": [ids], "padding_mask": [[1] * len(ids)]}
        trace = capture(backbone, inputs, norms=norms)
        strings = [tokenizer.id_to_token(i) for i in ids]
        punct = [len(s) == 1 and unicodedata.category(s)[0] == "P" for s in strings]
        n = len(ids)
        tokens += n
        for layer in range(layers):
            for head in range(heads):
                attention = trace.attention(layer, head).astype(np.float64)
                if norms:
                    attention = trace.attention_norms[layer, 0, head].astype(float)
                    attention = attention / attention.sum(axis=1, keepdims=True)
                text_sums = dict.fromkeys(NAMES, 0.0)
                for i in range(n):
                    row = attention[i]
                    text_sums["cls"] += sum(
                        row[j] for j in range(n) if ids[j] == cls_id
                    )
                    text_sums["sep"] += sum(
                        row[j] for j in range(n) if ids[j] == sep_id
                    )
                    text_sums["punctuation"] += sum(
                        row[j] for j in range(n) if punct[j]
                    )
                    text_sums["self"] += row[i]
                    text_sums["previous"] += row[i - 1] if i > 0 else 0.0
                    text_sums["next"] += row[i + 1] if i + 1 < n else 0.0
                    text_sums["entropy"] -= sum(p * np.log(p) for p in row if p > 0)
                    text_sums["distance"] += sum(row[j] * abs(i - j) for j in range(n))
                    for j in range(n):
                        if ids[j] == cls_id:
                            where = 0
                        elif ids[j] == sep_id:
                            where = 1
                        elif punct[j]:
                            where = 2
                        else:
                            where = 4 + int(np.clip(j - i, -4, 4)) + 3
                        bins[layer, head, where] += row[j]
                for name in NAMES:
                    sums[name][layer, head] += text_sums[name]
                    mean = text_sums[name] / n
                    if mean > best[name][layer, head] + 1e-9:
                        best[name][layer, head] = mean
                        best_text[name][layer, head] = index
    means = {name: value / tokens for name, value in sums.items()}
    return means, bins / tokens, best_text, tokens


@pytest.fixture(scope="module")
def texts():
    return make_texts()


@pytest.fixture(scope="module")
def expected(backbone, tokenizer, texts):
    return by_hand(backbone, tokenizer, texts)


def assert_matches(stats, expected, texts):
    means, bins, best_text, tokens = expected
    assert stats.num_texts == len(texts) and stats.num_tokens == tokens
    for name in NAMES:
        np.testing.assert_allclose(stats.values[name], means[name], atol=1e-6)
    np.testing.assert_allclose(stats.distributions, bins, atol=1e-6)
    np.testing.assert_allclose(stats.distributions.sum(-1), 1.0, atol=1e-6)
    for name in NAMES:
        # The example shown for a head is the text where its mean is highest
        # (a near tie may pick either of the two).
        for layer, head in np.ndindex(stats.values[name].shape):
            text = stats.example_text(name, layer, head)
            assert text in texts
            if texts.index(text) != best_text[name][layer, head]:
                pytest.fail(f"{name} L{layer} H{head}: example {text!r}")


@pytest.mark.parametrize("batch_size", [1, 7, 32])
def test_every_statistic_matches_per_text_traces_by_hand(
    backbone, tokenizer, texts, expected, batch_size
):
    stats = corpus_statistics(
        backbone,
        texts,
        tokenizer,
        batch_size=batch_size,
        max_length=MAX_LENGTH,
        progress=False,
    )
    assert_matches(stats, expected, texts)
    # The heads differ, so a statistic mixed up between heads would show.
    assert np.ptp(stats.values["self"]) > 0.05 and np.ptp(stats.values["cls"]) > 0.05


def test_norm_weighted_statistics_match_per_text_norms_by_hand(
    backbone, tokenizer, texts, expected
):
    stats = run(backbone, texts[:12], tokenizer, batch_size=5, norms=True)
    means, bins, _, tokens = by_hand(backbone, tokenizer, texts[:12], norms=True)
    assert stats.num_tokens == tokens
    for name in NAMES:
        np.testing.assert_allclose(stats.norm_values[name], means[name], atol=1e-6)
    np.testing.assert_allclose(stats.norm_distributions, bins, atol=1e-6)
    # They are not the attention statistics under another name.
    assert np.abs(stats.norm_values["cls"] - stats.values["cls"]).max() > 1e-3
    assert run(backbone, texts[:3], tokenizer).norm_values is None


def test_the_dask_engine_on_a_local_cluster_of_two_workers(
    backbone, tokenizer, texts, expected
):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        stats = corpus_statistics(
            backbone,
            texts,
            tokenizer,
            batch_size=7,
            max_length=MAX_LENGTH,
            engine="dask",
            address=cluster.scheduler_address,
            progress=False,
        )
        with distributed.Client(cluster) as client:
            # Both workers built the model and both ran batches; none is kept.
            assert len(client.scheduler_info()["workers"]) == 2
    assert_matches(stats, expected, texts)


def test_stop_and_resume_equals_an_uninterrupted_run(
    backbone, tokenizer, texts, tmp_path
):
    whole = run(backbone, texts, tokenizer, batch_size=2, progress=False)
    checkpoint = tmp_path / "partial.npz"
    part = run(
        backbone,
        texts,
        tokenizer,
        batch_size=2,
        checkpoint=checkpoint,
        stop_after=10,
        progress=False,
    )
    assert part.num_texts == 16  # one window: 2 x 8 texts
    assert CorpusStatistics.load(checkpoint).num_texts == 16
    seen = []
    rest = run(
        backbone,
        texts,
        tokenizer,
        batch_size=2,
        checkpoint=checkpoint,
        progress=lambda done, total: seen.append((done, total)),
    )
    assert seen[0] == (16, 40) and seen[-1] == (40, 40)
    assert rest.num_tokens == whole.num_tokens
    for name in NAMES:
        np.testing.assert_array_equal(rest.values[name], whole.values[name])
        np.testing.assert_array_equal(rest.examples[name], whole.examples[name])
    assert rest.example_texts == whole.example_texts
    with pytest.raises(ValueError, match="made with texts.sha256="):
        run(
            backbone,
            texts[::-1],
            tokenizer,
            batch_size=2,
            checkpoint=checkpoint,
            progress=False,
        )
    with pytest.raises(ValueError, match="batch_size"):
        run(
            backbone,
            texts,
            tokenizer,
            batch_size=3,
            checkpoint=checkpoint,
            progress=False,
        )


def test_an_interrupted_run_resumes_from_its_checkpoint(
    backbone, tokenizer, texts, tmp_path
):
    whole = run(backbone, texts, tokenizer, batch_size=2)
    checkpoint = tmp_path / "partial.npz"

    def interrupt(done, total):
        if done >= 32:  # Ctrl-C after the second window
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run(
            backbone,
            texts,
            tokenizer,
            batch_size=2,
            checkpoint=checkpoint,
            progress=interrupt,
        )
    assert CorpusStatistics.load(checkpoint).num_texts == 32
    rest = run(backbone, texts, tokenizer, batch_size=2, checkpoint=checkpoint)
    assert rest.num_texts == 40
    np.testing.assert_array_equal(rest.values["entropy"], whole.values["entropy"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["partial.npz"]


def test_a_file_and_a_dataset_give_what_the_list_gives(
    backbone, tokenizer, texts, tmp_path
):
    listed = run(backbone, texts, tokenizer, progress=False)
    path = tmp_path / "texts.txt"
    path.write_text("\n\n".join(texts) + "\n   \n", encoding="utf-8")  # empty lines
    from_file = run(backbone, str(path), tokenizer, progress=False)
    datasets = pytest.importorskip("datasets")
    table = datasets.Dataset.from_dict({"id": list(range(40)), "body": texts})
    from_table = run(backbone, table, tokenizer, text_column="body", progress=False)
    for stats in (from_file, from_table):
        assert stats.num_texts == 40
        for name in NAMES:
            np.testing.assert_allclose(
                stats.values[name], listed.values[name], atol=1e-12
            )
    with pytest.raises(ValueError, match=r"text_column='text'.*\['id', 'body'\]"):
        run(backbone, table, tokenizer, progress=False)


def test_save_and_load_round_trip(backbone, tokenizer, texts, tmp_path):
    stats = run(backbone, texts[:9], tokenizer, norms=True)
    loaded = CorpusStatistics.load(stats.save(tmp_path / "stats.npz"))
    assert (loaded.num_texts, loaded.num_tokens) == (stats.num_texts, stats.num_tokens)
    for name in NAMES:
        np.testing.assert_array_equal(loaded.values[name], stats.values[name])
    np.testing.assert_array_equal(loaded.distributions, stats.distributions)
    np.testing.assert_array_equal(loaded.norm_values["sep"], stats.norm_values["sep"])
    assert loaded.example_text("cls", 1, 2) == stats.example_text("cls", 1, 2)
    broken = tmp_path / "broken.npz"
    broken.write_bytes(b"not a zip")
    with pytest.raises(FileFormatError, match="not a corpus statistics file"):
        CorpusStatistics.load(broken)
    with pytest.raises(ValueError, match="ending in .npz"):
        stats.save(tmp_path / "stats.txt")
    assert not (tmp_path / "stats.txt").exists()


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"engine": "ray"}, r"engine='ray': allowed: None \(this process\) or 'dask'"),
        ({"batch_size": 0}, r"batch_size=0: allowed: an int >= 1"),
        ({"max_length": 1}, r"max_length=1: allowed: an int, 2..24"),
        ({"max_length": 25}, r"max_length=25: allowed: an int, 2..24"),
        ({"stop_after": 0}, r"stop_after=0"),
        ({"address": "tcp://x:1"}, r"engine=None takes none"),
        ({"engine": "dask", "workers": 3}, r"\['workers'\]: unknown"),
        ({"progress": "yes"}, r"progress='yes'"),
        ({"tokenizer": None}, r"tokenizer=None"),
        ({"norms": "yes"}, r"norms='yes': not a bool"),
    ],
)
def test_bad_arguments_are_refused_with_what_is_allowed(
    backbone, tokenizer, options, match
):
    arguments = {"tokenizer": tokenizer, "max_length": 8, "progress": False}
    arguments.update(options)
    with pytest.raises(ValueError, match=match):
        corpus_statistics(backbone, ["the cat"], **arguments)


def test_bad_corpora_are_refused(backbone, tokenizer, tmp_path):
    with pytest.raises(ValueError, match="no texts"):
        run(backbone, [], tokenizer, progress=False)
    empty = tmp_path / "empty.txt"
    empty.write_text("\n \n")
    with pytest.raises(ValueError, match="no texts"):
        run(backbone, empty, tokenizer, progress=False)
    with pytest.raises(FileNotFoundError, match="no such file"):
        run(backbone, tmp_path / "missing.txt", tokenizer, progress=False)
    with pytest.raises(ValueError, match="item 1 is a int"):
        run(backbone, ["the cat", 3], tokenizer, progress=False)
    with pytest.raises(ValueError, match="allowed: a list of str"):
        run(backbone, {"the cat"}, tokenizer, progress=False)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        run(
            backbone,
            ["the cat"],
            tokenizer,
            progress=False,
            checkpoint=tmp_path / "no" / "such.npz",
        )


def test_the_demo_corpus_is_python_documentation_sentences():
    sentences = demo_corpus()
    assert len(sentences) > 1500 and len(set(sentences)) == len(sentences)
    assert all(s[0].isupper() and s[-1] in ".!?" for s in sentences)
    assert any("tuple" in s for s in sentences)
    assert demo_corpus(5) == sentences[:5]
    with pytest.raises(ValueError, match="limit=0"):
        demo_corpus(0)


# --- a checkpoint records what made its sums (issue 27, item 4) ---
# Each refusal must name what differs and leave the checkpoint's bytes as they
# were; a run made the same way resumes it.


@pytest.fixture
def partial(backbone, tokenizer, texts, tmp_path):
    """A checkpoint of the first window (16 texts), and its bytes."""
    checkpoint = tmp_path / "partial.npz"
    run(backbone, texts, tokenizer, batch_size=2, checkpoint=checkpoint, stop_after=10)
    return checkpoint, checkpoint.read_bytes()


def resume(backbone, texts, tokenizer, checkpoint, **options):
    return run(
        backbone,
        texts,
        tokenizer,
        **{"batch_size": 2, "checkpoint": checkpoint, **options},
    )


def other_vocabulary():
    swapped = list(VOCAB)
    swapped[5], swapped[6] = swapped[6], swapped[5]  # same size, other ids
    return DistilBertTokenizer(swapped, lowercase=True)


CASES = {
    "other config": (
        lambda b, t, x: (make_backbone(hidden_dim=6), t, x, {}),
        r"made with hidden_dim=12, this run has hidden_dim=6(.|\n)*allowed: the "
        "same model, or a new checkpoint path",
    ),
    "same config, other weights": (
        lambda b, t, x: (make_backbone(seed=2), t, x, {}),
        r"made with weights=sha256:[0-9a-f]{12}\.\.\., this run has "
        r"weights=sha256:[0-9a-f]{12}\.\.\.; allowed: the same model with the "
        "same weights",
    ),
    "other tokenizer settings": (
        lambda b, t, x: (b, DistilBertTokenizer(VOCAB, lowercase=False), x, {}),
        r"made with tokenizer.lowercase=True, this run has "
        r"tokenizer.lowercase=False.*allowed: the same tokenizer",
    ),
    "other vocabulary": (
        lambda b, t, x: (b, other_vocabulary(), x, {}),
        r"made with tokenizer.vocabulary=sha256:",
    ),
    "other statistics": (
        lambda b, t, x: (b, t, x, {"norms": True}),
        r"made with norms=False, this run has norms=True; allowed: the same norms",
    ),
    "other max_length": (
        lambda b, t, x: (b, t, x, {"max_length": 12}),
        r"made with max_length=16, this run has max_length=12",
    ),
    "other texts, as many": (
        lambda b, t, x: (b, t, make_texts(40, seed=7), {}),
        r"made with texts.sha256=[0-9a-f]{16}.*allowed: the texts it was written",
    ),
    "more texts": (
        lambda b, t, x: (b, t, [*x, "one more"], {}),
        r"made with texts.count=40, this run has texts.count=41",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_run_made_otherwise_is_refused_naming_what_differs_and_the_file_stays(
    backbone,
    tokenizer,
    texts,
    partial,
    case,
):
    make, match = CASES[case]
    checkpoint, before = partial
    other_backbone, other_tokenizer, other_texts, options = make(
        backbone, tokenizer, texts
    )
    with pytest.raises(ValueError, match=match) as refused:
        resume(other_backbone, other_texts, other_tokenizer, checkpoint, **options)
    assert str(refused.value).startswith(f"checkpoint={str(checkpoint)!r}: made with")
    assert checkpoint.read_bytes() == before


def test_the_same_run_resumes_and_a_copy_of_the_weights_counts_as_the_same(
    backbone,
    tokenizer,
    texts,
    partial,
):
    checkpoint, _ = partial
    twin = make_backbone(seed=1)  # another object, the very same weights
    whole = run(backbone, texts, tokenizer, batch_size=2)
    resumed = resume(twin, texts, tokenizer, checkpoint)
    for name in NAMES:
        np.testing.assert_array_equal(resumed.values[name], whole.values[name])
    made_with = json.loads(str(np.load(checkpoint)["meta"]))["progress"]["made_with"]
    assert made_with["hidden_dim"] == 12 and made_with["texts"]["count"] == 40
    assert made_with["tokenizer"]["lowercase"] is True


def test_an_edited_text_file_is_refused(backbone, tokenizer, texts, tmp_path):
    path = tmp_path / "texts.txt"
    path.write_text("\n".join(texts) + "\n", encoding="utf-8")
    checkpoint = tmp_path / "partial.npz"
    resume(backbone, path, tokenizer, checkpoint, stop_after=10)
    before = checkpoint.read_bytes()
    edited = texts[:20] + ["the dog ran far"] + texts[21:]  # after the checkpoint
    path.write_text("\n".join(edited) + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"made with texts.sha256="):
        resume(backbone, path, tokenizer, checkpoint)
    assert checkpoint.read_bytes() == before
    moved = tmp_path / "moved.txt"  # the same texts under another name resume
    moved.write_text("\n".join(texts) + "\n", encoding="utf-8")
    assert resume(backbone, moved, tokenizer, checkpoint).num_texts == 40


def test_a_checkpoint_without_a_record_is_refused_and_kept(
    backbone,
    tokenizer,
    texts,
    partial,
):
    checkpoint, _ = partial
    stats = CorpusStatistics.load(checkpoint)
    progress = json.loads(str(np.load(checkpoint)["meta"]))["progress"]
    del progress["made_with"]  # as the old format wrote it
    progress["settings"] = {"batch_size": 2, "max_length": 16}
    write_statistics(checkpoint, stats, progress)
    before = checkpoint.read_bytes()
    with pytest.raises(ValueError, match="written without a record of the model"):
        resume(backbone, texts, tokenizer, checkpoint)
    assert checkpoint.read_bytes() == before


def test_the_dask_engine_writes_and_checks_the_same_record(
    backbone,
    tokenizer,
    texts,
    tmp_path,
):
    distributed = pytest.importorskip("distributed")
    checkpoint = tmp_path / "partial.npz"
    whole = run(backbone, texts, tokenizer, batch_size=2)
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        dask = {"engine": "dask", "address": cluster.scheduler_address}
        resume(backbone, texts, tokenizer, checkpoint, stop_after=10, **dask)
        before = checkpoint.read_bytes()
        with pytest.raises(ValueError, match="made with weights=sha256:"):
            resume(make_backbone(seed=2), texts, tokenizer, checkpoint, **dask)
        assert checkpoint.read_bytes() == before
    resumed = resume(backbone, texts, tokenizer, checkpoint)  # in process now
    np.testing.assert_array_equal(resumed.values["sep"], whole.values["sep"])


def test_a_batch_too_big_for_the_memory_limit_is_refused_and_the_checkpoint_kept(
    backbone, tokenizer, texts, partial
):
    from distil_explorer import set_memory_limit
    from distil_explorer.errors import NotEnoughMemoryError

    checkpoint, before = partial
    set_memory_limit("1 kB")  # a batch of 2 x 16 needs about 58 kB
    try:
        with pytest.raises(NotEnoughMemoryError) as refused:
            resume(backbone, texts, tokenizer, checkpoint, norms=False)
    finally:
        set_memory_limit(None)
    message = str(refused.value)
    assert message.startswith("corpus batch(B=2, T=")
    assert "the statistics' work" in message
    assert message.endswith("allowed: a smaller batch_size or max_length")
    assert checkpoint.read_bytes() == before
