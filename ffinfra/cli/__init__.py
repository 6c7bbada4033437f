"""Command-line interface: thin commands over the library; the only place that prints or exits."""
