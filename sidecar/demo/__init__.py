"""The self-contained demo: a scikit-learn model server, driftcar in front of it, and a traffic generator."""
