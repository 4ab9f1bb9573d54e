"""`distil-explorer`: the explorer in JupyterLab, or a report without Jupyter.

distil-explorer lab [NOTEBOOK]
distil-explorer report --preset all_minilm_l6_v2_en --text "..." -o out.html
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

from distil_explorer.config import OFFLINE_PRESET

_REPO_NOTEBOOK = Path(__file__).parents[1] / "notebooks" / "00_quickstart.ipynb"
_STARTER = "distil_explorer_quickstart.ipynb"


def _starter_notebook(path: Path) -> Path:
    """Write a three-cell explorer notebook (for installs without the repo)."""
    import nbformat

    cells = [
        nbformat.v4.new_markdown_cell(
            "# distil-explorer\nPress **Run** to look inside."
        ),
        nbformat.v4.new_code_cell(
            "import distil_explorer as de\n\napp = de.Explorer(run=True)\napp"
        ),
    ]
    nbformat.write(nbformat.v4.new_notebook(cells=cells), path)
    return path


def lab(notebook: str | None) -> int:
    """Open JupyterLab on the explorer notebook."""
    if notebook:
        path = Path(notebook)
    elif _REPO_NOTEBOOK.is_file():
        path = _REPO_NOTEBOOK
    else:
        path = Path.cwd() / _STARTER
        if not path.exists():
            _starter_notebook(path)
    if not path.is_file():
        raise SystemExit(f"notebook={str(path)!r}: no such file")
    jupyter = shutil.which("jupyter")
    if jupyter is None:
        raise SystemExit(
            "jupyter: not installed; allowed: pip install 'distil-explorer[lab]'"
        )
    return subprocess.call([jupyter, "lab", str(path)])


def report(preset: str, text: str, output: str, max_length: int) -> int:
    """Build `preset`, capture `text`, and write the standalone HTML report."""
    from distil_explorer import DistilBertBackbone, DistilBertTokenizer, capture
    from distil_explorer.analysis.params import parameter_table
    from distil_explorer.views.report import report as write_report

    backbone = DistilBertBackbone.from_preset(preset)
    tokenizer = DistilBertTokenizer.from_preset(preset)
    trace = capture(backbone, tokenizer.encode_at_most(text, max_length))
    path = write_report(
        trace,
        output,
        rows=parameter_table(backbone),
        title=f"distil-explorer: {preset}",
    )
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="distil-explorer", description=__doc__.split("\n")[0]
    )
    commands = parser.add_subparsers(dest="command", required=True)
    lab_parser = commands.add_parser("lab", help="open JupyterLab on the explorer")
    lab_parser.add_argument("notebook", nargs="?", help="notebook to open")
    rep = commands.add_parser("report", help="write a standalone HTML report")
    rep.add_argument(
        "--preset", default=OFFLINE_PRESET, help="preset name, path or handle"
    )
    rep.add_argument("--text", required=True, help="the text to run")
    rep.add_argument("-o", "--output", default="report.html", help="an .html file")
    rep.add_argument("--max-length", type=int, default=128, help="truncate to this")
    args = parser.parse_args(argv)
    os.environ.setdefault("KERAS_BACKEND", "torch")
    if args.command == "lab":
        return lab(args.notebook)
    try:
        return report(args.preset, args.text, args.output, args.max_length)
    except (ValueError, OSError, ConnectionError) as error:
        print(f"distil-explorer report: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
