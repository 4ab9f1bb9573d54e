"""Views of a Trace: static plots, notebook widgets, reports and exports.

Views only draw. They read a `Trace` (and the arrays `distil_explorer.analysis`
computes from it), never a model, and import their drawing library only when
used: `plots` needs matplotlib. They never import a framework or the model:
the Explorer hands them values from a `Session`.
"""
