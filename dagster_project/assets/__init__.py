"""Software-defined assets, one module per group: ingestion -> features -> models ->
evaluation / recommendations. Every asset that writes the DuckDB file runs in the
``hybridrec_duckdb`` concurrency pool (limit 1 in dagster.yaml), so overlapping runs take turns."""

DUCKDB_POOL = "hybridrec_duckdb"
