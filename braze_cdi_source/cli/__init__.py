"""The `braze-cdi` command line: commands, logging and progress display.

`main.py` holds the group, its global options and the error handling; the commands are added to it here,
from the modules grouped by what they do.
"""

from . import check, demo, reports, run_command
from .main import main

for _command in (
    run_command.run,
    run_command.reset,
    demo.demo,
    check.check,
    reports.report,
    reports.health,
    reports.views,
):
    main.add_command(_command)

__all__ = ["main"]
