"""Dagster instance configurations shipped with the package (local and production)."""
