"""Command line interface; see `keras_htr.cli.main`."""
