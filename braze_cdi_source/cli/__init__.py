"""The `braze-cdi` command line: commands, logging and progress display.

`main.py` holds the group, its global options and the error handling; the commands live in the modules
grouped by what they do, each imported only when its command runs (or `--help` lists it).
"""

from .main import main

main.lazy_commands = {
    "run": "run_command",
    "reset": "run_command",
    "demo": "demo",
    "check": "check",
    "report": "reports",
    "health": "reports",
    "views": "reports",
}

__all__ = ["main"]
