"""Infrastructure no user types: atomic writes, JSON files, the workspace."""
