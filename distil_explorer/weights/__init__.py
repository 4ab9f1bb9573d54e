"""Weights and configs from every place they are kept: formats and hubs."""
