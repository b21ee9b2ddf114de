"""The path a capture route is matched against: the request path as the model server may resolve it.

The proxy forwards the target byte for byte and the upstream resolves it its own way: aiohttp routes
`/%70redict` to `/predict`, many servers resolve `/x/../predict` to `/predict`, some merge `//` or ignore a
trailing `/`. If routes were matched on the raw bytes, such a request would miss the route's `redact` list
and its values would be stored; so a route applies when its glob matches the raw path or this canonical
form, which covers every such reading at once: percent-escapes decoded (`%2F` too), dot segments removed,
repeated slashes merged, a trailing slash dropped. Matching more widely only ever applies a route's settings
(redaction among them) to more requests, never fewer. The record keeps the raw path.
"""

from __future__ import annotations

from urllib.parse import unquote


def match_path(path: str) -> str:
    """The canonical form of a request path for matching routes (unchanged when already canonical)."""
    if "%" not in path and "/." not in path and "//" not in path and not (path.endswith("/") and path != "/"):
        return path  # the common case, per request: no work
    decoded = unquote(path, errors="surrogateescape")
    out: list[str] = []
    for segment in decoded.split("/"):
        if segment in ("", "."):
            continue
        if segment == "..":
            if out:
                out.pop()
            continue
        out.append(segment)
    return "/" + "/".join(out)
