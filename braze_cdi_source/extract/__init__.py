"""The dlt source and its per-integration incremental cursor."""
