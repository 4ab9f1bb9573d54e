"""What a task head says, as small HTML: class probabilities and masked-token
predictions as bars, every name escaped (class names and tokens come from
files a person did not write)."""

from __future__ import annotations

from typing import Any

from distil_explorer.views.html_text import text as escaped

_BAR = "#1f77b4"
_TOP = "#d62728"  # the most probable class or token


def _bar_rows(pairs: list[tuple[str, float]], width: int = 180) -> str:
    """One row per (name, probability), most probable first: name, bar, value."""
    rows = []
    for rank, (name, probability) in enumerate(pairs):
        colour = _TOP if rank == 0 else _BAR
        length = max(1, round(width * float(probability)))
        rows.append(
            "<tr><td style='padding:1px 8px 1px 0;text-align:right;"
            f"font-family:monospace'>{escaped(name)}</td><td style='width:{width}px'>"
            f"<div style='background:{colour};height:12px;width:{length}px'></div>"
            f"</td><td style='padding-left:6px'>{float(probability):.3f}</td></tr>"
        )
    # The widget's own line height (28 px) would space ten rows over 280 px.
    style = "border-collapse:collapse;font-size:13px;line-height:18px"
    return f"<table style='{style}'>{''.join(rows)}</table>"


def class_bars_html(classes: Any, index: int = 0, title: str = "Classifier") -> str:
    """A classifier's class probabilities (sequence `index`) as labelled bars.

    Examples:
    ```python
    class_bars_html(session.classes)  # "<b>Classifier</b>: positive ..."
    ```
    """
    if classes is None:
        return ""
    top = classes.top(index)
    return (
        f"<div class='de-classes'><b>{escaped(title)}</b>: "
        f"<b>{escaped(top[0][0])}</b> ({top[0][1]:.1%})"
        f"{_bar_rows(top)}</div>"
    )


def predictions_html(predictions: Any, token: str) -> str:
    """A masked LM's top-k tokens at one position (exBERT's view), as bars.

    `token` is the token that was there before it was masked.

    Examples:
    ```python
    predictions_html(session.predictions_at(2), "cat")
    ```
    """
    if predictions is None:
        return ""
    return (
        "<div class='de-predictions'><b>Predictions for the masked token</b> "
        f"(was {escaped(repr(token))}):{_bar_rows(predictions.top(0), 160)}</div>"
    )


def compared_classes_html(pair: Any, labels: tuple[str, str]) -> str:
    """Class probabilities of A and B side by side ("no classifier head" for a
    side without one); "" when neither has one."""
    if pair is None:
        return ""
    parts = []
    for classes, label in zip(pair, labels, strict=True):
        if classes is None:
            body = f"<b>{escaped(label)}</b>: no classifier head"
        else:
            body = class_bars_html(classes, title=label)
        parts.append(f"<div>{body}</div>")
    return (
        "<div style='display:flex;gap:32px;flex-wrap:wrap;align-items:flex-start'>"
        + "".join(parts)
        + "</div>"
    )


def head_html(head_text: str | None) -> str:
    """The head a build loaded, as a clause of the status line ("" for none)."""
    return "" if head_text is None else f"; {escaped(head_text)}"
