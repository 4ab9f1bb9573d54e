"""Copy named arrays into a built backbone, all or nothing."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

from distil_explorer.errors import WeightsMismatchError

__all__ = ["WeightsMismatchError", "assign_weights"]

# Below this many bytes a load takes well under a second: no progress bar.
PROGRESS_BYTES = 64 * 2**20


def assign_weights(
    backbone,
    arrays: Mapping[str, np.ndarray],
    source: str = "weights",
    progress: Callable[[str, int, int], None] | None = None,
) -> None:
    """Assign `arrays` (variable path -> array) to `backbone`'s variables.

    Every path and shape is checked before the first assignment, so a failed
    load leaves the backbone exactly as it was. `progress("loading weights",
    bytes_done, bytes_total)` is told after each variable; without it a tqdm
    bar is drawn for loads of 64 MB and more.

    Examples:
    ```python
    assign_weights(backbone, {"embeddings/layer_norm/gamma": np.ones(8), ...})
    ```
    """
    variables = {v.path: v for v in backbone.weights}
    missing = sorted(set(variables) - set(arrays))
    unexpected = sorted(set(arrays) - set(variables))
    if missing or unexpected:
        raise WeightsMismatchError(
            f"{source}: variables do not match the backbone; missing "
            f"{missing[:5]}{' ...' if len(missing) > 5 else ''}, unexpected "
            f"{unexpected[:5]}{' ...' if len(unexpected) > 5 else ''}"
        )
    for path, variable in variables.items():
        want, got = tuple(variable.shape), tuple(np.shape(arrays[path]))
        if want != got:
            raise WeightsMismatchError(
                f"{source}: variable {path!r} has shape {got} in the file but "
                f"{want} in the backbone"
            )
        values = np.asarray(arrays[path])
        if values.dtype.kind in "OSUM":  # ml_dtypes' bfloat16 is kind "V": fine
            raise WeightsMismatchError(
                f"{source}: variable {path!r} has dtype {values.dtype}; allowed: "
                "numbers"
            )
        # A flipped bit in a weights file is often NaN or inf, and every
        # output after it would be NaN: refuse it here, by name.
        if values.dtype.kind == "f" and not np.isfinite(values).all():
            raise WeightsMismatchError(
                f"{source}: variable {path!r} holds NaN or infinite values; "
                "allowed: finite weights (the file may be damaged)"
            )
    total = sum(np.asarray(a).nbytes for a in arrays.values())
    if progress is not None:
        done = 0
        progress("loading weights", 0, total)
        for path, variable in variables.items():
            done += _assign(variable, arrays[path])
            progress("loading weights", done, total)
        return
    from tqdm.auto import tqdm

    with tqdm(
        total=total,
        unit="B",
        unit_scale=True,
        desc="loading weights",
        disable=total < PROGRESS_BYTES,
        leave=False,
    ) as bar:
        for path, variable in variables.items():
            bar.update(_assign(variable, arrays[path]))


def _assign(variable, array) -> int:
    """Assign one array in the variable's dtype; the bytes it took."""
    array = np.asarray(array, dtype=variable.dtype)
    variable.assign(array)
    return array.nbytes
