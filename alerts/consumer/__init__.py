"""`driftcar consume`: a receiver for driftcar's signed alerts that verifies them, drops repeats and runs actions.

Flow: `app.py` verifies the signature and timestamp, parses the payload, claims its Idempotency-Key in the
dedupe store (`dedupe.py`), finds the actions of every matching rule (`config.py`) and runs them in order
(`actions/`); the key is marked done only when every action succeeded.
"""
