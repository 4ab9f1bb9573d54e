"""Attribution targets of task models: a class's logit, a token's log-probability.

Like `distil_explorer.model.targets`, a target maps the last hidden state
(B, T, D) to (B,) in `keras.ops`. These need the task's head, so they are
prepared with the task model `attribute` was given (`needs_task_model`).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from keras import ops


def _checked_index(name: str, value: Any, size: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < size:
        raise ValueError(
            f"{name}={value!r}: out of range; allowed: an int from 0 to {size - 1} "
            f"({what})"
        )
    return value


def _checked_model(model: Any, kind: str, target: str):
    from distil_explorer.tasks.task import missing_task

    wanted = missing_task(model, kind)
    if wanted:
        raise ValueError(
            f"target={target}: needs a {wanted}, got model={type(model).__name__}; "
            f"allowed: attribute(<a {wanted}>, inputs, target, ...)"
        )
    return model


def _bound_to(bound: Any, model: Any) -> bool:
    return bound is not None and (model is bound or model is bound.backbone)


@dataclasses.dataclass(frozen=True, eq=False)
class ClassTarget:
    """The logit (or softmax probability) of class `k` of a text classifier."""

    k: int
    probability: bool = False
    model: Any = None
    needs_task_model = True

    @property
    def label(self) -> str:
        names = getattr(self.model, "class_names", None)
        name = names[self.k] if names else f"class {self.k}"
        return f"{name} {'probability' if self.probability else 'logit'}"

    def prepared(self, model, encode=None) -> ClassTarget:
        """This target bound to `model`, a `DistilBertTextClassifier`.

        A bound target asked again with its own model's backbone (as tools
        that take a backbone do) stays as it is.
        """
        if _bound_to(self.model, model):
            return self
        model = _checked_model(model, "classifier", f"class_target({self.k})")
        _checked_index("k", self.k, model.num_classes, "num_classes")
        return dataclasses.replace(self, model=model)

    def __call__(self, hidden):
        if self.model is None:
            raise ValueError(
                f"class_target({self.k}): no classifier yet; allowed: pass it to "
                "distil_explorer.attribute with a DistilBertTextClassifier"
            )
        logits = ops.cast(self.model.logits_from_hidden(hidden), "float32")
        if self.probability:
            return ops.softmax(logits, axis=-1)[:, self.k]
        return logits[:, self.k]


@dataclasses.dataclass(frozen=True, eq=False)
class TokenTarget:
    """The log-probability a masked LM gives token `token_id` at `position`."""

    position: int
    token_id: int
    model: Any = None
    needs_task_model = True

    @property
    def label(self) -> str:
        return f"log p(token {self.token_id} at {self.position})"

    def prepared(self, model, encode=None) -> TokenTarget:
        """This target bound to `model`, a `DistilBertMaskedLM` (see
        `ClassTarget.prepared`)."""
        if _bound_to(self.model, model):
            return self
        where = f"token_target({self.position}, {self.token_id})"
        model = _checked_model(model, "masked_lm", where)
        size = model.backbone.vocabulary_size
        _checked_index("token_id", self.token_id, size, "vocabulary_size")
        return dataclasses.replace(self, model=model)

    def __call__(self, hidden):
        if self.model is None:
            raise ValueError(
                "token_target: no masked LM yet; allowed: pass it to "
                "distil_explorer.attribute with a DistilBertMaskedLM"
            )
        length = hidden.shape[1]
        _checked_index("position", self.position, length, "the sequence's positions")
        logits = self.model.logits_from_hidden(hidden[:, self.position])
        logits = ops.cast(logits, "float32")
        return ops.log_softmax(logits, axis=-1)[:, self.token_id]


def class_target(k: int, probability: bool = False) -> ClassTarget:
    """A target: class `k`'s logit (or probability) of a text classifier.

    Args:
        k: int. The class, 0 to num_classes - 1.
        probability: bool. The softmax probability instead of the logit.

    Examples:
    ```python
    a = distil_explorer.attribute(classifier, "Not bad at all.",
                                  distil_explorer.class_target(1),
                                  tokenizer=tokenizer)
    # Tools that take a backbone take the target bound to the classifier:
    target = distil_explorer.class_target(1).prepared(classifier)
    distil_explorer.head_importance(classifier.backbone, texts, target,
                                    tokenizer=tokenizer)
    ```
    """
    if not isinstance(probability, bool):
        raise ValueError(f"probability={probability!r}: allowed: True, False")
    if isinstance(k, bool) or not isinstance(k, int) or k < 0:
        raise ValueError(f"k={k!r}: allowed: an int >= 0, a class index")
    return ClassTarget(k, probability)


def token_target(position: int, token_id: int) -> TokenTarget:
    """A target: the log-probability of `token_id` at `position` (masked LM).

    Args:
        position: int. The position in the sequence (e.g. the [MASK]).
        token_id: int. The token whose log-probability is attributed.

    Examples:
    ```python
    target = distil_explorer.token_target(6, tokenizer.token_to_id("paris"))
    a = distil_explorer.attribute(masked_lm, "The capital of France is [MASK].",
                                  target, tokenizer=tokenizer)
    ```
    """
    for name, value in (("position", position), ("token_id", token_id)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{name}={value!r}: allowed: an int >= 0")
    return TokenTarget(position, token_id)
