"""Copy named arrays into a built backbone, all or nothing."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from distil_explorer.errors import WeightsMismatchError

__all__ = ["WeightsMismatchError", "assign_weights"]

# Below this many bytes a load takes well under a second: no progress bar.
PROGRESS_BYTES = 64 * 2**20


def assign_weights(
    backbone, arrays: Mapping[str, np.ndarray], source: str = "weights"
) -> None:
    """Assign `arrays` (variable path -> array) to `backbone`'s variables.

    Every path and shape is checked before the first assignment, so a failed
    load leaves the backbone exactly as it was.

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
    from tqdm.auto import tqdm

    total = sum(np.asarray(a).nbytes for a in arrays.values())
    with tqdm(
        total=total,
        unit="B",
        unit_scale=True,
        desc="loading weights",
        disable=total < PROGRESS_BYTES,
        leave=False,
    ) as bar:
        for path, variable in variables.items():
            array = np.asarray(arrays[path], dtype=variable.dtype)
            variable.assign(array)
            bar.update(array.nbytes)
