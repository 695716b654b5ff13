"""`python -m braze_cdi_source.simulator`: serve the simulator until SIGINT or SIGTERM."""

import sys

from .server import main

sys.exit(main())
