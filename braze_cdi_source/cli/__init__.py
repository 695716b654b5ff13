"""The `braze-cdi` command line: `main.py` holds the group, its global options and error handling; the modules
imported here add their commands to it."""

from . import check, demo, reports, run_command  # noqa: F401 - each adds its commands to `main`
from .main import main

__all__ = ["main"]
