"""Task heads: masked LM and text classifier, what they predict, their targets.

The models (`DistilBertMaskedLM`, `DistilBertTextClassifier`) load Keras;
this package's `__init__` does not, so `distil_explorer` stays cheap to import.
"""
