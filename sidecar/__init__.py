"""driftcar sidecar."""
