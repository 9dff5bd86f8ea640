"""Command line: thin click commands that build a config and call the library."""

from .main import cli, main

__all__ = ["cli", "main"]
