"""The console command, run in-process (no Jupyter needed for `report`)."""

import sys
from pathlib import Path

import pytest

from distil_explorer import cli
from distil_explorer._internal.workspace import COURSE_NOTEBOOKS as COURSE

PRESET = Path(__file__).parent / "fixtures" / "keras_hub_tiny" / "preset"


def test_report_writes_a_self_contained_html(tmp_path, capsys):
    out = tmp_path / "out.html"
    code = cli.main(
        ["report", "--preset", str(PRESET), "--text", "the cat sat", "-o", str(out)]
    )
    assert code == 0
    page = out.read_text()
    assert "wrote" in capsys.readouterr().out
    assert "export default" in page and "canvas.default.render" in page
    assert "data:image/png;base64," in page
    assert "http://" not in page and "https://" not in page
    # Captured with norms: the page embeds them for its Norm-weighted button.
    assert '"has_norms": true' in page and "Every layer and head, norm-weighted" in page


def test_report_errors_are_one_clear_line(tmp_path, capsys):
    code = cli.main(
        [
            "report",
            "--preset",
            "no_such_preset",
            "--text",
            "x",
            "-o",
            str(tmp_path / "x.html"),
        ]
    )
    assert code == 2
    assert "unknown built-in preset" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_corpus_writes_the_statistics_of_a_text_file(tmp_path, capsys):
    from distil_explorer import DistilBertBackbone, DistilBertTokenizer
    from distil_explorer.corpus import CorpusStatistics, corpus_statistics

    texts = tmp_path / "texts.txt"
    texts.write_text("the cat sat\n\nthe dog ran far\na cat\n")
    out = tmp_path / "stats.npz"
    arguments = ["corpus", "--preset", str(PRESET), "--texts", str(texts)]
    assert cli.main([*arguments, "-o", str(out), "--max-length", "8"]) == 0
    assert "3 texts" in capsys.readouterr().out
    written = CorpusStatistics.load(out)
    expected = corpus_statistics(
        DistilBertBackbone.from_preset(str(PRESET)),
        ["the cat sat", "the dog ran far", "a cat"],
        DistilBertTokenizer.from_preset(str(PRESET)),
        max_length=8,
        progress=False,
    )
    for name, value in expected.values.items():
        assert (written.values[name] == value).all(), name
    assert cli.main([*arguments, "-o", str(tmp_path / "x.txt")]) == 2
    assert "allowed: a file name ending in .npz" in capsys.readouterr().err
    missing = ["corpus", "--preset", str(PRESET), "--texts", str(tmp_path / "no")]
    assert cli.main([*missing, "-o", str(tmp_path / "y.npz")]) == 2
    assert "no such file" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["stats.npz", "texts.txt"]


def test_report_refuses_a_non_html_path(tmp_path, capsys):
    code = cli.main(
        [
            "report",
            "--preset",
            str(PRESET),
            "--text",
            "x",
            "-o",
            str(tmp_path / "x.txt"),
        ]
    )
    assert code == 2
    assert "ending in .html" in capsys.readouterr().err


@pytest.fixture
def launched(monkeypatch):
    """The JupyterLab command `lab` would run (nothing is started)."""
    calls = []
    monkeypatch.setattr(cli, "_run", lambda command, cwd: calls.append((command, cwd)))
    monkeypatch.setattr(cli, "_is_root", lambda: False)
    return calls


def _option(command: list[str], name: str) -> str:
    (value,) = [a.split("=", 1)[1] for a in command if a.startswith(f"--{name}=")]
    return value


def test_lab_passes_unknown_arguments_to_jupyterlab(tmp_path, launched):
    jupyter = ["--allow-root", "--no-browser", "--port", "8890", "--ServerApp.token=T"]
    cli.main(["lab", "--workspace", str(tmp_path), *jupyter])
    ((command, cwd),) = launched
    assert command[:3] == [sys.executable, "-m", "jupyterlab"]
    assert command[-len(jupyter) :] == jupyter  # last, so the person's win
    assert command.count("--allow-root") == 1
    assert _option(command, "ServerApp.root_dir") == str(tmp_path) == str(cwd)
    assert _option(command, "LabApp.default_url") == "/lab/tree/00_quickstart.ipynb"


@pytest.mark.parametrize("root", [True, False])
def test_lab_allows_root_without_being_asked(tmp_path, launched, monkeypatch, root):
    monkeypatch.setattr(cli, "_is_root", lambda: root)
    cli.main(["lab", "--workspace", str(tmp_path), "--no-browser"])
    ((command, _),) = launched
    assert ("--allow-root" in command) is root
    cli.main(["lab", "--workspace", str(tmp_path), "--ServerApp.allow_root=True"])
    assert "--allow-root" not in launched[1][0]


def test_lab_opens_a_course_notebook_by_name_or_repo_path(tmp_path, launched):
    cli.main(
        ["lab", "--workspace", str(tmp_path), "02_attention_maps.ipynb", "--port", "1"]
    )
    repo_copy = str(COURSE / "03_hidden_states.ipynb")
    cli.main(["lab", "--workspace", str(tmp_path), repo_copy])
    (first, _), (second, cwd) = launched
    assert _option(first, "LabApp.default_url") == "/lab/tree/02_attention_maps.ipynb"
    assert first[-2:] == ["--port", "1"]
    # the repository's file is opened as its workspace copy, never in place
    assert _option(second, "LabApp.default_url") == "/lab/tree/03_hidden_states.ipynb"
    assert cwd == tmp_path


def test_lab_serves_another_notebook_from_its_own_folder(tmp_path, launched):
    mine = tmp_path / "mine" / "my notes.ipynb"
    mine.parent.mkdir()
    mine.write_text("{}")
    cli.main(["lab", "--workspace", str(tmp_path / "ws"), str(mine)])
    ((command, cwd),) = launched
    assert cwd == mine.parent
    assert _option(command, "LabApp.default_url") == "/lab/tree/my%20notes.ipynb"


def test_lab_copies_another_repository_notebook_before_opening_it(tmp_path, launched):
    inside = COURSE.parent / "tests" / "fixtures" / "lab_command_probe.ipynb"
    inside.write_text('{"cells": []}')
    try:
        cli.main(["lab", "--workspace", str(tmp_path), str(inside)])
    finally:
        inside.unlink()
    ((command, cwd),) = launched
    assert cwd == tmp_path
    assert (tmp_path / inside.name).read_text() == '{"cells": []}'
    assert _option(command, "LabApp.default_url") == f"/lab/tree/{inside.name}"


def test_lab_names_a_missing_notebook(tmp_path, launched):
    with pytest.raises(SystemExit, match="notebook='nope.ipynb': no such file"):
        cli.main(["lab", "--workspace", str(tmp_path), "nope.ipynb"])
    assert launched == []


def test_lab_workspace_comes_from_the_environment(tmp_path, launched, monkeypatch):
    monkeypatch.setenv("DISTIL_EXPLORER_WORKSPACE", str(tmp_path / "course"))
    cli.main(["lab"])
    ((command, _),) = launched
    assert _option(command, "ServerApp.root_dir") == str(tmp_path / "course")
    assert (tmp_path / "course" / "00_quickstart.ipynb").is_file()


def test_lab_says_where_it_works(tmp_path, launched, capsys):
    cli.main(["lab", "--workspace", str(tmp_path)])
    out = capsys.readouterr().out
    count = len(list(COURSE.glob("*.ipynb")))
    assert count >= 6
    assert f"workspace {tmp_path}: copied {count} course notebooks" in out
    assert "opens 00_quickstart.ipynb" in out


def test_report_refuses_jupyter_arguments(capsys):
    with pytest.raises(SystemExit):
        cli.main(["report", "--text", "x", "--port", "1"])
    assert "unrecognized arguments: --port 1" in capsys.readouterr().err


def test_available_preset_falls_back_offline(monkeypatch):
    from distil_explorer.weights import locate

    def offline(preset, allow_pickle=False):
        raise ConnectionError(
            f"preset={preset!r}: the network could not be reached.\nTried: x"
        )

    monkeypatch.setattr(locate, "preset_directory", offline)
    preset, why = locate.available_preset("distil_bert_base_en_uncased")
    assert preset == "all_minilm_l6_v2_en"
    assert "network could not be reached" in why and "Tried" not in why


def test_available_preset_gives_the_reason_not_the_advice(monkeypatch):
    from distil_explorer.weights import hub, locate

    failure = hub.PresetUnreachableError(
        "hf://a/b: down", hub="Hugging Face", reason="no answer within 2 s"
    )
    message = str(hub._combined("distil_bert_base_en_uncased", [failure]))

    def offline(preset, allow_pickle=False):
        raise hub.PresetUnreachableError(message)

    monkeypatch.setattr(locate, "preset_directory", offline)
    preset, why = locate.available_preset("distil_bert_base_en_uncased")
    assert preset == "all_minilm_l6_v2_en"
    assert "no answer within 2 s" in why and "allowed" not in why


@pytest.mark.parametrize("argv", [[], ["report"]])
def test_usage_errors_exit(argv):
    with pytest.raises(SystemExit):
        cli.main(argv)
