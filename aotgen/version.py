"""aotgen's version: the installed distribution's (pyproject.toml is the one place it is written)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("aotgen")
except PackageNotFoundError:  # a source tree on sys.path without an install
    __version__ = "0+unknown"
