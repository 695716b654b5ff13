"""The bundled Braze CDI simulator: product code (the demo runs on it), not only a test fixture.

`python -m braze_cdi_source.simulator --port 8080 --integrations 20` serves it on loopback."""

from .history import derive_sync_counts
from .responses import decode_cursor, encode_cursor
from .server import BrazeSimulator, RecordedRequest

__all__ = ["BrazeSimulator", "RecordedRequest", "decode_cursor", "derive_sync_counts", "encode_cursor"]
