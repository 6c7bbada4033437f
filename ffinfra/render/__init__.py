"""Render: Topology → artifacts (rendered files). Pure: no I/O except reading templates."""
