"""Durations (`90s`, `15m`, `1.5h`) and points in time (epoch seconds or ISO 8601) in configs and queries.

Standard library only, so that light entry points (`driftcar consume`) can import it without the detectors.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from typing import Any

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}


def parse_duration(value: Any) -> float:
    """Seconds from a number of seconds or a string like `90s`, `15m`, `1.5h`, `7d`, `2w`."""
    if isinstance(value, bool):
        raise ValueError(f"expected a duration such as 30s, 15m or 1h, got {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and (match := _DURATION.match(value)):
        seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2) or "s"]
    else:
        raise ValueError(f"expected a duration such as 30s, 15m or 1h, got {value!r}")
    if not seconds > 0 or not math.isfinite(seconds):
        raise ValueError(f"a duration must be positive and finite, got {value!r}")
    return seconds


def parse_time(value: str) -> float:
    """Epoch seconds from a number (`1732530000`) or an ISO 8601 time (`2026-11-25T10:00:00Z`; UTC if no zone)."""
    text = value.strip()
    try:
        number = float(text)
    except ValueError:
        pass
    else:
        if not math.isfinite(number):
            raise ValueError(f"expected epoch seconds or an ISO 8601 time, got {value!r}")
        return number
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValueError(f"expected epoch seconds or an ISO 8601 time, got {value!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()
