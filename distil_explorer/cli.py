"""`distil-explorer`: the explorer in JupyterLab, or a report without Jupyter.

distil-explorer lab [--workspace DIR] [NOTEBOOK] [JUPYTER ARGS...]
distil-explorer report --preset all_minilm_l6_v2_en --text "..." -o out.html
distil-explorer corpus --preset all_minilm_l6_v2_en --texts FILE -o stats.npz
                       [--engine dask [--address tcp://host:8786]]

`lab` serves copies of the course notebooks from a workspace folder (see
`distil_explorer._internal.workspace`), opens JupyterLab straight on the quickstart
notebook (or NOTEBOOK), and passes every other argument to JupyterLab
(`--port 8890`, `--no-browser`, `--ServerApp.token=...`). As root it adds
`--allow-root`, which JupyterLab otherwise demands.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
import urllib.parse
from pathlib import Path

from distil_explorer._internal.workspace import (
    COURSE_NOTEBOOKS,
    QUICKSTART,
    WORKSPACE_ENV,
    adopt_notebook,
    in_repository,
    prepare_workspace,
    workspace_folder,
)
from distil_explorer.config import OFFLINE_PRESET

# Arguments JupyterLab reads as "run as root is fine".
_ROOT_FLAGS = ("--allow-root", "--ServerApp.allow_root")


def lab_command(
    workspace: Path, notebook: str, jupyter_args: list[str], *, as_root: bool
) -> list[str]:
    """The JupyterLab command line serving `workspace`, opening `notebook`.

    `notebook` is relative to `workspace`; the URL JupyterLab prints (its
    default URL) is that notebook's. The person's own arguments come last, so
    they win over ours.

    Examples:

    >>> command = lab_command(Path("/w"), "a b.ipynb", ["--port", "9"], as_root=True)
    >>> for arg in command[3:]:
    ...     print(arg)
    --ServerApp.root_dir=/w
    --LabApp.default_url=/lab/tree/a%20b.ipynb
    --allow-root
    --port
    9
    """
    url = "/lab/tree/" + urllib.parse.quote(Path(notebook).as_posix())
    command = [
        sys.executable,
        "-m",
        "jupyterlab",
        f"--ServerApp.root_dir={workspace}",
        f"--LabApp.default_url={url}",
    ]
    given_root = any(arg.startswith(_ROOT_FLAGS) for arg in jupyter_args)
    if as_root and not given_root:
        command.append("--allow-root")
    return [*command, *jupyter_args]


def _is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def _notebook_in(workspace: Path, notebook: str | None) -> tuple[Path, str]:
    """(folder to serve, notebook path relative to it) for `notebook`.

    A course notebook, by name or by its path in the repository, is opened
    as its workspace copy; another notebook inside the repository is copied
    there first; any other existing notebook is served from its own folder.
    """
    if notebook is None:
        return workspace, QUICKSTART
    path = Path(notebook).expanduser()
    if (workspace / path.name).is_file() and (
        path.parent == Path(".") or path.absolute().parent == COURSE_NOTEBOOKS
    ):
        return workspace, path.name
    if path.is_file() and in_repository(path):
        print(f"distil-explorer: {adopt_notebook(workspace, path).summary()}")
        return workspace, path.name
    if path.is_file():
        return path.absolute().parent, path.name
    raise SystemExit(
        f"notebook={notebook!r}: no such file; allowed: a course notebook "
        f"({', '.join(sorted(p.name for p in workspace.glob('*.ipynb')))}) "
        "or a path to an .ipynb file"
    )


def _split_notebook(extra: list[str]) -> tuple[str | None, list[str]]:
    """The first bare `*.ipynb` argument is the notebook; the rest is JupyterLab's."""
    for index, arg in enumerate(extra):
        if arg.endswith(".ipynb") and not arg.startswith("-"):
            return arg, [*extra[:index], *extra[index + 1 :]]
    return None, list(extra)


def lab(workspace: str | None, notebook: str | None, jupyter_args: list[str]) -> int:
    """Copy the course into the workspace and open JupyterLab on `notebook`.

    Examples:

    ```python
    lab(None, None, ["--no-browser", "--port", "8890"])
    ```
    """
    if importlib.util.find_spec("jupyterlab") is None:
        raise SystemExit(
            "jupyterlab: not installed; allowed: pip install 'distil-explorer[lab]'"
        )
    try:
        prepared = prepare_workspace(workspace_folder(workspace))
    except (OSError, ValueError) as error:
        raise SystemExit(f"distil-explorer lab: {error}") from error
    root, relative = _notebook_in(prepared.folder, notebook)
    command = lab_command(root, relative, jupyter_args, as_root=_is_root())
    print(
        f"distil-explorer: {prepared.summary()} JupyterLab opens {relative} "
        f"from {root}; the repository's files are never written (change the "
        f"folder with --workspace or {WORKSPACE_ENV}).",
        flush=True,
    )
    return _run(command, cwd=root)


def _run(command: list[str], cwd: Path) -> int:
    """Hand this process over to JupyterLab (its signals, its exit code)."""
    os.chdir(cwd)
    if os.name == "posix":
        os.execv(command[0], command)
    return subprocess.call(command)  # Windows: exec would detach the console


def report(preset: str, text: str, output: str, max_length: int) -> int:
    """Build `preset`, capture `text`, and write the standalone HTML report."""
    from distil_explorer import DistilBertBackbone, DistilBertTokenizer, capture
    from distil_explorer.analysis.params import parameter_table
    from distil_explorer.views.report import report as write_report

    _check_utf8_argument("--text", text)
    backbone = DistilBertBackbone.from_preset(preset)
    tokenizer = DistilBertTokenizer.from_preset(preset)
    # With norms: the page's "Norm-weighted" button needs them (a few % more).
    # A long --text is cut before tokenizing (memory follows max_length), and
    # a max_length above the model's is the model's, as for `corpus`.
    length = min(max_length, backbone.max_sequence_length)
    trace = capture(backbone, tokenizer.encode_at_most(text, length), norms=True)
    path = write_report(
        trace,
        output,
        rows=parameter_table(backbone),
        title=f"distil-explorer: {preset}",
    )
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")
    return 0


def _check_utf8_argument(option: str, value: str) -> None:
    """Python keeps an argument's non-UTF-8 bytes as lone surrogates; name them."""
    try:
        os.fsencode(value).decode("utf-8")
    except UnicodeDecodeError as error:
        raw = error.object
        raise ValueError(
            f"{option}: byte 0x{raw[error.start]:02x} at byte {error.start} is not "
            f"UTF-8 ({error.reason}); allowed: UTF-8 text"
        ) from None


def corpus(
    preset: str,
    texts: str,
    output: str,
    engine: str | None,
    address: str | None,
    batch_size: int,
    max_length: int,
    limit: int | None,
) -> int:
    """Build `preset`, compute corpus statistics of `texts`, write them to `output`.

    `texts` is a text file (one text per line) or "demo" for the demo corpus.
    """
    from distil_explorer import DistilBertBackbone, DistilBertTokenizer
    from distil_explorer.corpus import corpus_statistics, demo_corpus

    if not str(output).endswith(".npz"):
        raise ValueError(f"-o {output}: allowed: a file name ending in .npz")
    source = demo_corpus(limit) if texts == "demo" else texts
    if texts != "demo" and limit is not None:
        raise ValueError("--limit: allowed only with --texts demo")
    options = {} if address is None else {"address": address}
    backbone = DistilBertBackbone.from_preset(preset)
    tokenizer = DistilBertTokenizer.from_preset(preset)
    stats = corpus_statistics(
        backbone,
        source,
        tokenizer,
        batch_size=batch_size,
        max_length=min(max_length, backbone.max_sequence_length),
        engine=engine,
        **options,
    )
    path = stats.save(output)
    print(f"wrote {path}: {stats.num_texts} texts, {stats.num_tokens} tokens")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="distil-explorer", description=__doc__.split("\n")[0]
    )
    commands = parser.add_subparsers(dest="command", required=True)
    lab_parser = commands.add_parser(
        "lab",
        help="open JupyterLab on the explorer",
        usage="distil-explorer lab [--workspace DIR] [NOTEBOOK] [JUPYTER ARGS...]",
        description="Open JupyterLab on copies of the course notebooks; "
        "arguments not listed here go to JupyterLab.",
        allow_abbrev=False,
    )
    lab_parser.add_argument(
        "--workspace",
        help=f"folder for the notebook copies and exports (default: "
        f"${WORKSPACE_ENV} or ~/distil-explorer)",
    )
    rep = commands.add_parser("report", help="write a standalone HTML report")
    rep.add_argument(
        "--preset", default=OFFLINE_PRESET, help="preset name, path or handle"
    )
    rep.add_argument("--text", required=True, help="the text to run")
    rep.add_argument("-o", "--output", default="report.html", help="an .html file")
    rep.add_argument("--max-length", type=int, default=128, help="truncate to this")
    cor = commands.add_parser("corpus", help="per-head statistics over a corpus")
    cor.add_argument(
        "--preset", default=OFFLINE_PRESET, help="preset name, path or handle"
    )
    cor.add_argument(
        "--texts", required=True, help='a text file, one text per line, or "demo"'
    )
    cor.add_argument("-o", "--output", default="stats.npz", help="an .npz file")
    cor.add_argument("--engine", choices=["dask"], help="run the batches on Dask")
    cor.add_argument("--address", help="a running Dask scheduler (with --engine)")
    cor.add_argument("--batch-size", type=int, default=32, help="texts per batch")
    cor.add_argument("--max-length", type=int, default=128, help="truncate to this")
    cor.add_argument("--limit", type=int, help="only the first N demo texts")
    args, extra = parser.parse_known_args(argv)
    if args.command == "lab":
        notebook, jupyter_args = _split_notebook(extra)
        return lab(args.workspace, notebook, jupyter_args)
    if extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    os.environ.setdefault("KERAS_BACKEND", "torch")
    if getattr(args, "address", None) is not None and args.engine is None:
        parser.error("--address: allowed only with --engine dask")
    try:
        if args.command == "corpus":
            return corpus(
                args.preset,
                args.texts,
                args.output,
                args.engine,
                args.address,
                args.batch_size,
                args.max_length,
                args.limit,
            )
        return report(args.preset, args.text, args.output, args.max_length)
    except (ValueError, OSError, ConnectionError) as error:
        print(f"distil-explorer {args.command}: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
