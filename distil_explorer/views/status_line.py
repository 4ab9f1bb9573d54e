"""The explorer's status line: what was built or run, in one sentence.

Every name in it (presets, paths, class names, backends) is escaped.
"""

from __future__ import annotations

from typing import Any

from distil_explorer.views.html_text import text as escaped
from distil_explorer.views.task_html import head_html


def built_line(session: Any) -> str:
    """What `session` built: its size, its head, and what to do next.

    Examples:
    ```python
    built_line(session)
    # "<b>Built</b> ./sst2: 1,984 parameters, 2 layers x 2 heads; text
    #  classifier head: 2 classes (negative, positive). Press <b>Run</b>."
    ```
    """
    backbone = session.backbone
    note = ""
    if session.tokenizer_problem is not None:
        note = f" No tokenizer: {escaped(session.tokenizer_problem)}."
    return (
        f"<b>Built</b> {escaped(session.name)}: "
        f"{backbone.count_params():,} parameters, {backbone.num_layers} layers "
        f"x {backbone.num_heads} heads{head_html(session.head_text)}. "
        f"Press <b>Run</b>.{note}"
    )


def build_note(session: Any) -> str:
    """The Build tab's line under the button: timings, then the head loaded."""
    return escaped(session.timings.text()) + head_html(session.head_text)


def ran_line(session: Any, trace: Any, tokens: int) -> str:
    """What the last run of `session` ran, where, what a classifier says of
    it (the run jumps to the Attention tab; the bars stay in the Run tab),
    and where to look next."""
    said = ""
    classes = session.classes
    if classes is not None:
        name, probability = classes.top(0)[0]
        said = (
            f" Classifier: <b>{escaped(name)}</b> ({probability:.1%}; every "
            "class in the Run tab)."
        )
    return (
        f"<b>Ran</b> {escaped(session.name)} on "
        f"{escaped(trace.backend)} / {escaped(trace.device)}: "
        f"{tokens} tokens.{said} Hover or click a token in the Attention tab."
    )
