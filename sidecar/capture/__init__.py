"""driftcar sidecar/capture."""
