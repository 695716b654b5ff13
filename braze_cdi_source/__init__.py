"""braze-cdi: load Braze Cloud Data Ingestion sync history with dlt (`pipeline.run(braze_cdi_source())`, then
`create_views(pipeline)`: README.md)."""

from importlib import import_module
from typing import Any

from .settings import package_version

_API = {"braze_cdi_source": ".extract.source", "create_views": ".analytics.views",
        "render_views": ".analytics.view_sql"}
"""The public names and their modules, imported on first use: the CLI's `--version` and `health` do not load
dlt's source machinery through the package root."""

__all__ = ["braze_cdi_source", "create_views", "render_views"]
__version__ = package_version()


def __getattr__(name: str) -> Any:
    if name not in _API:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(_API[name], __name__), name)
