"""The console command, run in-process (no Jupyter needed for `report`)."""

from pathlib import Path

import pytest

from distil_explorer import cli

PRESET = Path(__file__).parent / "fixtures" / "keras_hub_tiny" / "preset"


def test_report_writes_a_self_contained_html(tmp_path, capsys):
    out = tmp_path / "out.html"
    code = cli.main(
        ["report", "--preset", str(PRESET), "--text", "the cat sat", "-o", str(out)]
    )
    assert code == 0
    page = out.read_text()
    assert "wrote" in capsys.readouterr().out
    assert "export default" in page and "createModel" in page
    assert "data:image/png;base64," in page
    assert "http://" not in page and "https://" not in page


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


def test_lab_writes_a_starter_notebook_outside_the_repo(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(cli, "_REPO_NOTEBOOK", tmp_path / "missing.ipynb")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(cli.subprocess, "call", lambda args: calls.append(args) or 0)
    assert cli.main(["lab"]) == 0
    assert calls and calls[0][1:] == ["lab", str(tmp_path / cli._STARTER)]
    assert "de.Explorer" in (tmp_path / cli._STARTER).read_text()


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


@pytest.mark.parametrize("argv", [[], ["report"]])
def test_usage_errors_exit(argv):
    with pytest.raises(SystemExit):
        cli.main(argv)
