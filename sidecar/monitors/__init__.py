"""Monitors: scheduled report runs on captured records, their reference data, and the report browser."""
