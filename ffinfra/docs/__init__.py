"""Documentation generated from the code (so the README cannot drift from the models)."""
