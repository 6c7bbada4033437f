"""Spec: load the YAML, check it against the models and the rules, produce a validated spec."""
