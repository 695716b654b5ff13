"""The `braze-cdi` command line: commands, logging and progress display."""

from .main import main

__all__ = ["main"]
