"""braze-cdi: load Braze Cloud Data Ingestion sync history with dlt.

    import dlt
    from braze_cdi_source import braze_cdi_source, create_views

    pipeline = dlt.pipeline("braze_cdi", destination="duckdb", dataset_name="braze_cdi_data")
    pipeline.run(braze_cdi_source())
    create_views(pipeline)
"""

from .analytics.view_sql import render_views
from .analytics.views import create_views
from .extract.source import braze_cdi_source
from .settings import package_version

__all__ = ["braze_cdi_source", "create_views", "render_views"]
__version__ = package_version()
