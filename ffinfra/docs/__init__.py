"""Documentation generated from the code, so README.md and docs/ cannot drift from it.

`python -m ffinfra.docs.spec_reference --write` regenerates every generated block (spec_reference.BLOCKS).
"""
