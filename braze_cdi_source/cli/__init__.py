"""The `braze-cdi` command line: `main.py` holds the group, its global options and error handling; each module
named here adds its commands to it when one of them is looked up (`--version` and `health` do not import
what `run` needs; `--help` imports them all)."""

from .main import main

main.lazy_commands = {
    "run": "run_command", "reset": "run_command", "demo": "demo", "check": "check",
    "report": "reports", "health": "reports", "views": "reports",
}

__all__ = ["main"]
