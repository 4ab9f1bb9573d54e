"""What an action says where it was started: its error, and its progress.

Each tab keeps an `ErrorArea` beside its buttons: an action that fails shows
one sentence there (the details folded), and the next action clears it. A
`Progress` line shows work that takes more than a moment (a bar and what is
being done), in the tab that started it.
"""

from __future__ import annotations

import traceback

import ipywidgets as w

from distil_explorer.views.html_text import text as escaped


def error_message(error: BaseException) -> str:
    """The first line of `error` (its type's name when it has none).

    Examples:
    ```python
    error_message(ValueError("text: empty; allowed: a sentence\\nmore"))
    # 'text: empty; allowed: a sentence'
    ```
    """
    message = str(error).strip()
    return message.splitlines()[0] if message else type(error).__name__


def error_html(error: BaseException) -> str:
    """`error` as one escaped sentence in a red box, the traceback folded."""
    detail = "".join(traceback.format_exception(error))
    tried = getattr(error, "tried", ())  # e.g. each hub a preset was sought on
    if tried:
        detail = "\n".join(tried) + "\n\n" + detail
    return (
        "<div class='de-error' style='border-left:4px solid #b00020;padding:4px 8px;"
        "background:#fdecea'><b>"
        + escaped(error_message(error))
        + "</b><details><summary>details</summary><pre style='font-size:12px'>"
        + escaped(detail)
        + "</pre></details></div>"
    )


class ErrorArea:
    """Where one tab's failed action says why; hidden while there is nothing."""

    def __init__(self) -> None:
        self.widget = w.HTML(layout=w.Layout(display="none"))
        self.message = ""  # the sentence shown, "" when none

    def show(self, error: BaseException) -> None:
        """Show `error` as one sentence, its details folded."""
        self.message = error_message(error)
        self.widget.value = error_html(error)
        self.widget.layout.display = None

    def clear(self) -> None:
        """Nothing to say (a new action started)."""
        self.message = ""
        self.widget.value = ""
        self.widget.layout.display = "none"


class Progress:
    """A bar and a line of text for work in a tab; hidden while idle."""

    def __init__(self) -> None:
        self.bar = w.IntProgress(
            value=0, min=0, max=1, layout=w.Layout(display="none", width="160px")
        )
        self.text = w.HTML()
        self.widget = w.HBox([self.bar, self.text])

    def step(self, what: str, done: int = 0, total: int = 1) -> None:
        """Working: `done` of `total` steps, now doing `what`."""
        self.bar.max = max(int(total), 1)
        self.bar.value = min(max(int(done), 0), self.bar.max)
        self.bar.layout.display = None
        self.text.value = escaped(what) + (" ..." if done < total else "")

    def finish(self, text: str = "") -> None:
        """Done: the bar goes, `text` (HTML, already escaped) stays."""
        self.bar.layout.display = "none"
        self.text.value = text
