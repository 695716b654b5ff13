"""The bundled Braze CDI simulator: product code (the demo runs on it), not only a test fixture.

`python -m braze_cdi_source.simulator --port 8080 --integrations 20` serves it on loopback.
"""

from .server import (
    BrazeSimulator,
    RecordedRequest,
    decode_cursor,
    derive_sync_counts,
    encode_cursor,
    main,
)

__all__ = ["BrazeSimulator", "RecordedRequest", "decode_cursor", "derive_sync_counts", "encode_cursor", "main"]
