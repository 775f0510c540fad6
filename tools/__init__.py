"""Development tools (``python -m tools.devstack`` is what ``scripts/develop`` runs)."""
