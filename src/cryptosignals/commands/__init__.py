"""Command modules of the `cryptosignals` CLI, each with a `register(app)` function."""
