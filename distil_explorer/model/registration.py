"""Make `import distil_explorer` enough for Keras to load our saved models.

`keras.models.load_model("m.keras")` and `keras.saving.deserialize_keras_object`
find a custom class only once `@keras.saving.register_keras_serializable` has
run, that is once `distil_explorer.model.backbone` is imported. But
`import distil_explorer` loads no framework (it is cheap, and the Keras
backend is chosen later). So: if keras is imported already, the model module
is imported now; if not, a one-shot import hook imports it right after keras
finishes importing. Importing this module loads no framework.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import warnings

MODEL_MODULE = "distil_explorer.model.backbone"
# The task models register themselves too (they import the backbone).
MODEL_MODULES = (
    MODEL_MODULE,
    "distil_explorer.tasks.masked_lm",
    "distil_explorer.tasks.text_classifier",
)


def register_with_keras() -> None:
    """Register `DistilBertBackbone`, the task models and their layers with Keras.

    Now if keras is loaded, else as soon as it is.

    Examples:
    ```python
    import distil_explorer  # calls this
    import keras

    keras.models.load_model("backbone.keras")  # no custom_objects needed
    ```
    """
    if "keras" in sys.modules:
        for module in MODEL_MODULES:
            importlib.import_module(module)
        return
    if not any(isinstance(f, _KerasImportHook) for f in sys.meta_path):
        sys.meta_path.insert(0, _KerasImportHook())


def _register_after_import() -> None:
    try:
        for module in MODEL_MODULES:
            importlib.import_module(module)
    except Exception as exc:  # never break `import keras` itself
        warnings.warn(
            f"distil_explorer: registering DistilBertBackbone with Keras "
            f"serialization failed ({exc!r}); load .keras files with "
            "custom_objects={'DistilBertBackbone': DistilBertBackbone}",
            stacklevel=2,
        )


class _KerasImportHook(importlib.abc.MetaPathFinder):
    """Finds nothing itself: wraps keras's own loader, once, then leaves."""

    def find_spec(self, name, path=None, target=None):
        if name != "keras":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.loader is not None:
            spec.loader = _RegisteringLoader(spec.loader)
        return spec


class _RegisteringLoader(importlib.abc.Loader):
    def __init__(self, loader):
        self._loader = loader

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        self._loader.exec_module(module)
        _register_after_import()

    def __getattr__(self, name):  # resource readers, is_package, ...
        return getattr(self._loader, name)
