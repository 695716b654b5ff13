"""braze-cdi: load Braze Cloud Data Ingestion sync history with dlt.

    from pathlib import Path

    import dlt
    from braze_cdi_source import braze_cdi_source, create_views

    database = str(Path("braze_cdi.duckdb").resolve())  # absolute: dlt would resolve a relative one elsewhere
    pipeline = dlt.pipeline("braze_cdi", destination=dlt.destinations.duckdb(database), dataset_name="braze_cdi_data")
    pipeline.run(braze_cdi_source())
    create_views(pipeline)
"""

from .analytics.view_sql import render_views
from .analytics.views import create_views
from .extract.source import braze_cdi_source
from .settings import package_version

__all__ = ["braze_cdi_source", "create_views", "render_views"]
__version__ = package_version()
