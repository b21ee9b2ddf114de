"""driftcar alerts."""
