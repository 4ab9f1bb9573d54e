"""Print the Binder launch link of this clone, from `git remote get-url origin`.

Binder builds public GitHub repositories, so the link names the repository
this clone was taken from (or pushed to): no link is hard-coded anywhere.

    python binder/launch_url.py            # origin of the current clone
    python binder/launch_url.py --remote https://github.com/me/distil-explorer

The link opens JupyterLab on notebooks/00_quickstart.ipynb.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import urllib.parse

NOTEBOOK = "notebooks/00_quickstart.ipynb"
# https://github.com/o/r(.git), git@github.com:o/r(.git), ssh://git@github.com/o/r
_GITHUB = re.compile(
    r"^(?:https://|ssh://git@|git@)github\.com[:/]"
    r"(?P<owner>[\w.-]+)/(?P<repo>[\w.-]+?)(?:\.git)?/?$"
)


def launch_url(remote: str, ref: str = "HEAD") -> str:
    """The mybinder.org link for the GitHub repository at `remote`.

    Examples:

    >>> launch_url("git@github.com:someone/distil-explorer.git")
    'https://mybinder.org/v2/gh/someone/distil-explorer/HEAD?urlpath=lab/tree/notebooks/00_quickstart.ipynb'
    """
    match = _GITHUB.match(remote.strip())
    if match is None:
        raise ValueError(
            f"remote={remote!r}: not a GitHub repository, and Binder builds "
            "from GitHub; allowed: https://github.com/<owner>/<repo> or "
            "git@github.com:<owner>/<repo>.git"
        )
    owner, repo = match["owner"], match["repo"]
    query = urllib.parse.urlencode({"urlpath": f"lab/tree/{NOTEBOOK}"}, safe="/")
    return f"https://mybinder.org/v2/gh/{owner}/{repo}/{ref}?{query}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--remote", help="a GitHub URL (default: git's origin)")
    parser.add_argument("--ref", default="HEAD", help="branch, tag or commit")
    args = parser.parse_args(argv)
    remote = args.remote
    if remote is None:
        found = subprocess.run(
            ["git", "remote", "get-url", "origin"], capture_output=True, text=True
        )
        if found.returncode != 0:
            print(
                "remote=origin: this clone has no origin remote; allowed: "
                "--remote https://github.com/<owner>/<repo>",
                file=sys.stderr,
            )
            return 2
        remote = found.stdout
    try:
        print(launch_url(remote, args.ref))
    except ValueError as error:
        print(error, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
