"""Ingestion without the proxy: KServe's payload logger (CloudEvents) and batch records from offline jobs."""
