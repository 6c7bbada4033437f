"""ffinfra: compile a Fire-Flyer-style cluster spec into everything the cluster needs.

Data flows one way: spec (load + validate) → topology (compile) → render (artifacts) → apply → verify.
"""

__version__ = "0.1.0"
