"""distil-explorer: look inside DistilBERT-style encoders from a notebook.

Public names are imported lazily, so that `import distil_explorer` is cheap
and the Keras backend is chosen only when a model is first needed.
"""

import importlib
import os

if "keras" not in __import__("sys").modules:
    # torch is this project's default backend; Keras's own default is
    # tensorflow. An explicit KERAS_BACKEND always wins.
    os.environ.setdefault("KERAS_BACKEND", "torch")

__version__ = "0.1.0"

# The one other side effect of importing: `keras.models.load_model` finds
# DistilBertBackbone with no custom_objects, whichever of keras and this package
# is imported first (model/registration.py; Keras looks up only its own modules).
from distil_explorer.model import registration as _registration  # noqa: E402

_registration.register_with_keras()

# The names a user types, by what they are for; each is imported on first use.
_GROUPS = {
    "model": {
        "DistilBertBackbone": "distil_explorer.model.backbone",
        "DistilBertTokenizer": "distil_explorer.tokenizer",
        "Encoding": "distil_explorer.tokenizer",
        "available_preset": "distil_explorer.weights.locate",
    },
    "capture and Trace": {
        "capture": "distil_explorer.trace",
        "Trace": "distil_explorer.trace",
        "Runner": "distil_explorer.runtime.runner",
        "available_backends": "distil_explorer.runtime.backends",
        "available_devices": "distil_explorer.runtime.backends",
        # Work above what this process can get is refused before it
        # allocates (errors.NotEnoughMemoryError); this caps it further.
        "set_memory_limit": "distil_explorer.model.memory_limit",
        "memory_limit": "distil_explorer.model.memory_limit",
    },
    "analysis": {
        "parameter_table": "distil_explorer.analysis.params",
        "ParameterRow": "distil_explorer.analysis.params",
        "head_summary": "distil_explorer.analysis.attention",
        "HeadSummary": "distil_explorer.analysis.attention",
        "compare_traces": "distil_explorer.analysis.compare",
        "attention_rollout": "distil_explorer.analysis.rollout",
        "attention_flow": "distil_explorer.analysis.rollout",
        "score_contributions": "distil_explorer.analysis.query_key",
        "key_share_by_layer": "distil_explorer.analysis.shares",
        "self_share_by_layer": "distil_explorer.analysis.shares",
        "pca": "distil_explorer.analysis.hidden",
        "Projection": "distil_explorer.analysis.hidden",
    },
    "plots and export": {
        "plot_head": "distil_explorer.views.plots",
        "plot_model_view": "distil_explorer.views.plots",
        "plot_hidden_states": "distil_explorer.views.hidden_plots",
        "plot_pca": "distil_explorer.views.hidden_plots",
        "plot_parameters": "distil_explorer.views.plots",
        "plot_rollout": "distil_explorer.views.hidden_plots",
        "plot_query_key": "distil_explorer.views.plots",
        "plot_difference": "distil_explorer.views.compare_plots",
        "export_view": "distil_explorer.views.export",
        "report": "distil_explorer.views.report",
        "to_bertviz": "distil_explorer.bertviz",
    },
    "widgets": {
        "Explorer": "distil_explorer.views.explorer",
        "AttentionWidget": "distil_explorer.views.attention_widget",
    },
    "attribution": {
        "attribute": "distil_explorer.attribution",
        "Attribution": "distil_explorer.attribution",
        "cls_norm_target": "distil_explorer.model.targets",
        "similarity_target": "distil_explorer.model.targets",
        "plot_attribution": "distil_explorer.views.attribution_plots",
    },
    "context mixing and causal tests": {
        "context_mixing": "distil_explorer.mixing",
        "ContextMixing": "distil_explorer.mixing",
        "patch_activations": "distil_explorer.causal",
        "Patching": "distil_explorer.causal",
        "head_importance": "distil_explorer.causal",
    },
    "corpus statistics": {
        "corpus_statistics": "distil_explorer.corpus",
        "CorpusStatistics": "distil_explorer.corpus",
        "demo_corpus": "distil_explorer.corpus",
        "head_distances": "distil_explorer.corpus.sums",
        "plot_corpus_statistics": "distil_explorer.views.corpus_plots",
    },
    "task heads": {
        "DistilBertMaskedLM": "distil_explorer.tasks.masked_lm",
        "DistilBertTextClassifier": "distil_explorer.tasks.text_classifier",
        "predict_masked": "distil_explorer.tasks.predictions",
        "classify": "distil_explorer.tasks.predictions",
        "layer_predictions": "distil_explorer.tasks.lens",
        "plot_layer_predictions": "distil_explorer.views.lens_plots",
        "MaskedPredictions": "distil_explorer.tasks.results",
        "ClassProbabilities": "distil_explorer.tasks.results",
        "LayerPredictions": "distil_explorer.tasks.results",
        "class_target": "distil_explorer.tasks.targets",
        "token_target": "distil_explorer.tasks.targets",
    },
}
_EXPORTS = {
    name: module for group in _GROUPS.values() for name, module in group.items()
}
# Every public exception lives in `distil_explorer.errors` (`de.errors.X`).
_EXPORTS["errors"] = "distil_explorer"

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'distil_explorer' has no attribute {name!r}")
    if name == "errors":
        return importlib.import_module("distil_explorer.errors")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
