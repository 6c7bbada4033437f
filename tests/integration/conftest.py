"""Fixtures of the integration tests: the session's lab (see lab_harness.py)."""

from lab_harness import lab_stack  # noqa: F401  (a fixture: importing it here shares it with every module)
