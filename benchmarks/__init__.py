"""Reproducible measurements of braze-cdi against the bundled simulator: `python -m benchmarks.run`."""
