"""driftcar storage."""
