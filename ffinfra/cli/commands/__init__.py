"""One module per family of commands; ffinfra/cli/app.py registers them."""
