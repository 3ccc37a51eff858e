"""Publishing the warehouse's nightly outputs as files for downstream tools (no Dagster here)."""
