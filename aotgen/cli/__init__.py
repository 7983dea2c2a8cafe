"""The `aotgen` command line (west-style): a thin layer over the Python API (aotgen.api), one
module per group of verbs, each a list of click commands that main.py adds to the `aotgen` group."""

from .main import cli, main  # noqa: F401
