"""The analyst layer: view definitions and rendering, health, the report."""
