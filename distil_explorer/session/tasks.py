"""The task head a Session built, and what it says about the Trace on screen.

A preset that names a head builds its task model (`building.build_model`);
`TaskSession` is the part of `Session` that reads it: the head in one line,
a classifier's class probabilities, a masked LM's predictions at a position
and its layer lens, and the attribution targets the head offers. Every
answer belongs to the Trace it was computed for (as `Session.attribution`
does): a new build, run or intervention makes the next read compute afresh.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from distil_explorer.session.inputs import chosen_target, first_sequence

LENS_TOP_K = 5
# How many class names the one-line head description lists.
_NAMES_SHOWN = 6
ORIGINAL_TOKEN = "original_token"
_KINDS = {"classifier": "a text classifier head", "masked_lm": "a masked-LM head"}


def head_text(task: Any) -> str | None:
    """The head of `task` in one line; None for no task (a backbone only).

    Examples:
    ```python
    head_text(classifier)  # "text classifier head: 2 classes (negative, positive)"
    head_text(masked_lm)  # "masked-LM head tied to the token embedding (30,522 tokens)"
    ```
    """
    if task is None:
        return None
    if task.task_kind == "masked_lm":
        size = task.backbone.vocabulary_size
        return f"masked-LM head tied to the token embedding ({size:,} tokens)"
    names = class_names(task)
    listed = ", ".join(names[:_NAMES_SHOWN]) + (
        f", ... ({len(names) - _NAMES_SHOWN} more)" if len(names) > _NAMES_SHOWN else ""
    )
    return f"text classifier head: {task.num_classes} classes ({listed})"


def class_names(task: Any) -> tuple[str, ...]:
    """A classifier's class names, "LABEL_i" where it has none (as `classify`)."""
    names = task.class_names
    return (
        tuple(names) if names else tuple(f"LABEL_{i}" for i in range(task.num_classes))
    )


def target_choices(task: Any) -> tuple[tuple[str, str], ...]:
    """(label, key) of each attribution target the head adds; () without one.

    A classifier adds "class <name>" per class (key "class:<k>"); a masked LM
    the log-probability of the original token at the pinned token (key
    "original_token"). `Session.attribute` takes the keys as `target`.

    Examples:
    ```python
    target_choices(classifier)
    # (("class negative", "class:0"), ("class positive", "class:1"))
    ```
    """
    if task is None:
        return ()
    if task.task_kind == "masked_lm":
        label = "log-probability of the original token at the pinned token"
        return ((label, ORIGINAL_TOKEN),)
    return tuple(
        (f"class {name}", f"class:{k}") for k, name in enumerate(class_names(task))
    )


def original_ids(trace: Any, baseline: Any) -> np.ndarray | None:
    """The token ids before the interventions, where they line up with `trace`.

    Masking keeps every position, so the baseline's ids say which token was
    there; after a removal the positions moved (None: judge by the Trace's own).
    """
    if baseline is None or baseline.token_ids.shape != trace.token_ids.shape:
        return None
    return baseline.token_ids


def _task_target(task: Any, target: str, trace: Any, baseline: Any, position: Any):
    """The task target a key names (`target_choices`), checked against `task`."""
    from distil_explorer.tasks.targets import class_target, token_target

    kind = "classifier" if target.startswith("class:") else "masked_lm"
    if task is None or task.task_kind != kind:
        holds = "a backbone only" if task is None else _KINDS[task.task_kind]
        raise ValueError(
            f"target={target!r}: needs {_KINDS[kind]}, and this build has {holds}; "
            "allowed: 'cls_norm', 'similarity'"
            + "".join(f", {key!r}" for _, key in target_choices(task))
        )
    if kind == "classifier":
        index = target.split(":", 1)[1]
        if not index.isdigit() or int(index) >= task.num_classes:
            raise ValueError(
                f"target={target!r}: no such class; allowed: 'class:0' to "
                f"'class:{task.num_classes - 1}'"
            )
        return class_target(int(index))
    real = int(trace.padding_mask[0].sum())
    if isinstance(position, bool) or not isinstance(position, (int, np.integer)):
        raise ValueError(
            f"position={position!r}: the {ORIGINAL_TOKEN!r} target needs a "
            "token (pin one in the head view); allowed: an int, "
            f"0..{real - 1}"
        )
    if not 0 <= position < real:
        raise ValueError(f"position={position}: allowed: 0..{real - 1}")
    ids = original_ids(trace, baseline)
    ids = trace.token_ids if ids is None else ids
    return token_target(int(position), int(ids[0, position]))


class TaskSession:
    """What `Session` answers about its task head (no widget, numpy out).

    Attributes:
        task: the task model built last (`DistilBertMaskedLM` or
            `DistilBertTextClassifier`), or None for a backbone-only build;
            `backbone` is its backbone, so everything else works as for one.
        kept_classes: the class probabilities of Trace A when it was kept
            (None unless the model then was a classifier).
    """

    task: Any = None
    kept_classes: Any = None

    @property
    def head_text(self) -> str | None:
        """The head built, in one line; None for a backbone only."""
        return head_text(self.task)

    @property
    def task_targets(self) -> tuple[tuple[str, str], ...]:
        """(label, key) of the attribution targets the head adds (`target_choices`)."""
        return target_choices(self.task)

    @property
    def classes(self):
        """`ClassProbabilities` of the Trace on screen (every sequence), or None.

        None unless the task is a classifier and a Trace is on screen. Runs
        the classifier in this process on the Trace's token ids and padding
        mask (an intervened Trace's input included).
        """
        from distil_explorer.tasks.predictions import classify

        if not self._holds("classifier"):
            return None
        trace = self.trace
        inputs = {"token_ids": trace.token_ids, "padding_mask": trace.padding_mask}
        return self._answer("classes", None, lambda: classify(self.task, inputs))

    @property
    def lens(self):
        """`LayerPredictions` of the Trace on screen (computed on first read), or None.

        None unless the task is a masked LM and a Trace is on screen. After a
        Mask token, the masked position is judged against the original token.
        """
        from distil_explorer.tasks.lens import layer_predictions

        if not self._holds("masked_lm"):
            return None
        trace = self.trace
        return self._answer(
            "lens",
            None,
            lambda: layer_predictions(
                self.task,
                trace,
                LENS_TOP_K,
                original_ids=original_ids(trace, self.baseline),
                tokenizer=self.tokenizer,
            ),
        )

    def predictions_at(self, position: int, top_k: int = 10):
        """The masked LM's top-k tokens at `position` of the Trace on screen.

        exBERT's view: after `intervene(position, "mask")` the Trace holds
        [MASK] there, and this says what the model expects in its place.
        None unless the task is a masked LM.

        Examples:
        ```python
        session.intervene(3, "mask")
        session.predictions_at(3).top(0)  # [("cat", 0.41), ("dog", 0.12), ...]
        ```
        """
        from distil_explorer.tasks.predictions import predict_masked

        if self.trace is None:
            raise ValueError("predictions: no Trace yet; allowed: run some text first")
        if not self._holds("masked_lm"):
            return None
        trace = self.trace
        return self._answer(
            "predictions",
            (position, top_k),
            lambda: predict_masked(
                self.task,
                first_sequence(trace),
                top_k=top_k,
                tokenizer=self.tokenizer,
                positions=[position],
            ),
        )

    @property
    def compared_classes(self) -> tuple[Any, Any] | None:
        """(A's, B's) class probabilities when a B is on screen and either
        model is a classifier (the other None); else None."""
        comparison = self.comparison()
        if comparison is None or comparison.b is None:
            return None
        pair = (self.kept_classes, self.classes)
        return None if pair[0] is None and pair[1] is None else pair

    def _attribution_target(self, target: Any, other_text: Any, position: Any):
        """(the model `attribute` is given, the target) for `Session.attribute`.

        A task target (a key of `task_targets`, or `class_target(...)` /
        `token_target(...)`) goes with the task model; the rest with the
        backbone, as `chosen_target` reads them.
        """
        if getattr(target, "needs_task_model", False):
            if self.task is None:
                raise ValueError(
                    f"target={target!r}: needs a task head, and this build has a "
                    "backbone only; allowed: 'cls_norm', 'similarity' or a "
                    "callable, or build a task preset"
                )
            return self.task, target
        if isinstance(target, str) and (
            target.startswith("class:") or target == ORIGINAL_TOKEN
        ):
            chosen = _task_target(
                self.task, target, self.trace, self.baseline, position
            )
            return self.task, chosen
        tokenizer, problem = self.tokenizer, self.tokenizer_problem
        return self.backbone, chosen_target(target, other_text, tokenizer, problem)

    def _holds(self, kind: str) -> bool:
        return self.trace is not None and getattr(self.task, "task_kind", None) == kind

    def _answer(self, name: str, key: Any, compute):
        """`compute()` for the task and Trace on screen, kept until either changes."""
        return self._results.computed(name, self.trace, compute, (self.task, key))
