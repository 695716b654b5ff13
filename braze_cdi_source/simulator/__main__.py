"""`python -m braze_cdi_source.simulator`: serve the simulator until SIGINT or SIGTERM."""

import sys

from .cli import main

sys.exit(main())
