"""The installed casesim's version: a module of its own, so that what records it in a manifest or a page
imports it without importing the package's whole interface (``casesim/__init__.py`` imports the engine)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("casesim")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.1.0"
