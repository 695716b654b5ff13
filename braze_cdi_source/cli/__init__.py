"""The `braze-cdi` command line: the group in `main.py`; each command's module adds it when it is looked up."""

from .main import main

__all__ = ["main"]
