"""The bundled Braze CDI simulator: product code (the demo runs on it), not only a test fixture.

`python -m braze_cdi_source.simulator --port 8080 --integrations 20` serves it on loopback.

Modules: `server` (BrazeSimulator: the HTTP API, request log, lifecycle), `workspace` (the data it serves
and the changes tests make), `history` (generated sync history and timestamp rendering), `cursors`
(Braze's `skip:N` cursors), `limits` (rate windows), `faults` (injected faults), `responses` (answers
before they are written), `cli` (the command line).
"""

from .cursors import decode_cursor, encode_cursor
from .history import derive_sync_counts
from .server import BrazeSimulator, RecordedRequest

__all__ = ["BrazeSimulator", "RecordedRequest", "decode_cursor", "derive_sync_counts", "encode_cursor"]
