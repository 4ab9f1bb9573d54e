"""What an action says where it was started: its error, and its progress.

Each tab keeps an `ErrorArea` beside its buttons: an action that fails shows
one sentence there (the details folded), and the next action clears it. A
`Progress` line shows work that takes more than a moment (a bar and what is
being done), in the tab that started it.
"""

from __future__ import annotations

import functools
import traceback
from collections.abc import Callable
from typing import Any

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


class ErrorAreas:
    """The banner above the tabs and every tab's `ErrorArea`, for one controller.

    `guard(callback, area)` runs `callback`, showing its exception in `area`
    (the banner when None) as one sentence: the app lives on. A fresh action
    first clears every area, since their errors were the last action's.

    Examples:
    ```python
    errors = ErrorAreas(ErrorArea(), [run_error])
    button.on_click(errors.guard(lambda _: run(), run_error))
    ```
    """

    def __init__(
        self,
        banner: ErrorArea,
        areas: list[ErrorArea],
        on_error: Callable[[], None] = lambda: None,
    ) -> None:
        self.banner = banner
        self.areas = [banner, *{id(a): a for a in areas if a is not banner}.values()]
        self._on_error = on_error

    def guard(
        self, callback: Callable[..., Any], area: ErrorArea | None = None, fresh=True
    ) -> Callable[..., Any]:
        """`callback`, its errors shown in `area`; `fresh`: clear the old ones first."""

        @functools.wraps(callback)
        def guarded(*args: Any) -> None:
            for shown in self.areas if fresh else ():
                shown.clear()
            try:
                callback(*args)
            except Exception as error:  # shown to the person, the app lives on
                self._on_error()
                (area or self.banner).show(error)

        return guarded

    def shown(self) -> list[str]:
        """The error sentences on screen now, in the banner and in every tab."""
        return [area.message for area in self.areas if area.message]
