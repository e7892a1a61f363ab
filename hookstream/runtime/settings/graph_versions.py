"""Graph API versions and how long Meta serves them, from Meta's Graph API changelog
(developers.facebook.com/documentation/development/graph-api/changelog, updated 2026-10-29, and
the v27.0 announcement of 2026-11-04). Pure: the date is passed in.

    version_warning("v19.0", date(2026, 12, 1))  -> "GRAPH_API_VERSION v19.0 expired on ..."
"""

from __future__ import annotations

import re
from datetime import date

CURRENT_VERSION = "v27.0"
# version -> (introduced, available until; None while Meta says "TBD")
VERSIONS: dict[str, tuple[date, date | None]] = {
    "v27.0": (date(2026, 11, 4), None),
    "v26.0": (date(2026, 7, 29), None),
    "v25.0": (date(2026, 2, 18), date(2028, 7, 29)),
    "v24.0": (date(2025, 10, 8), date(2028, 2, 18)),
    "v23.0": (date(2025, 5, 29), date(2027, 10, 8)),
    "v22.0": (date(2025, 1, 21), date(2027, 5, 20)),
    "v21.0": (date(2024, 10, 2), date(2027, 1, 21)),
    "v20.0": (date(2024, 5, 21), date(2026, 9, 24)),
    "v19.0": (date(2024, 1, 23), date(2026, 5, 21)),
    "v18.0": (date(2023, 9, 12), date(2026, 1, 26)),
    "v17.0": (date(2023, 5, 23), date(2025, 9, 12)),
    "v16.0": (date(2023, 2, 2), date(2025, 5, 14)),
    "v15.0": (date(2022, 9, 15), date(2024, 11, 20)),
    "v14.0": (date(2022, 5, 25), date(2024, 9, 17)),
    "v13.0": (date(2022, 2, 8), date(2024, 5, 28)),
}
SOON_DAYS = 90
_SHAPE = re.compile(r"^v(\d+)\.(\d+)$")


def version_warning(version: str, today: date) -> str | None:
    """A warning for a version Meta no longer serves (or soon will not), None when it is fine."""
    known = VERSIONS.get(version)
    if known is None:
        shape = _SHAPE.match(version)
        if shape is None:
            return (
                f"GRAPH_API_VERSION {version!r} is not a Graph API version (like {CURRENT_VERSION})"
            )
        newest = _SHAPE.match(CURRENT_VERSION)
        assert newest is not None  # noqa: S101 - a constant
        if (int(shape[1]), int(shape[2])) > (int(newest[1]), int(newest[2])):
            return (
                f"GRAPH_API_VERSION {version} is newer than the versions this release knows "
                f"(newest {CURRENT_VERSION}); check Meta's changelog"
            )
        return f"GRAPH_API_VERSION {version} is no longer served by Meta; use {CURRENT_VERSION}"
    introduced, until = known
    if today < introduced:
        return f"GRAPH_API_VERSION {version} is only released on {introduced.isoformat()}"
    if until is None:
        return None
    if today >= until:
        return f"GRAPH_API_VERSION {version} expired on {until.isoformat()}; use {CURRENT_VERSION}"
    if (until - today).days <= SOON_DAYS:
        return (
            f"GRAPH_API_VERSION {version} expires on {until.isoformat()}; move to {CURRENT_VERSION}"
        )
    return None
