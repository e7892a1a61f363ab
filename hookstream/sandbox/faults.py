"""Error injection for the sandbox: rules parsed from JSON, chosen per request. Pure.

    [{"page_id": "1001", "code": 2, "rate": 0.3},              # Meta error 2, 30 % of calls
     {"page_id": "*", "status": 502, "count": 5},              # 5 answers 502 with an HTML body
     {"page_id": "2002", "timeout_s": 15},                      # answer only after 15 s
     {"code": 613, "rate": 1.0, "count": 20}]                   # the next 20 calls throttled

A rule matches a page ("*" or missing: every page), fires with probability `rate` (default 1)
and at most `count` times (0 or missing: no limit). The first rule that fires decides.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import orjson


class FaultConfigError(ValueError):
    pass


@dataclass
class Fault:
    page_id: str = "*"
    code: int = 0
    subcode: int = 0
    status: int = 0
    timeout_s: float = 0.0
    rate: float = 1.0
    count: int = 0
    fired: int = 0

    def matches(self, page_id: str) -> bool:
        return self.page_id in ("*", page_id) and (self.count <= 0 or self.fired < self.count)

    def as_dict(self) -> dict[str, Any]:
        return {
            "page_id": self.page_id,
            "code": self.code,
            "subcode": self.subcode,
            "status": self.status,
            "timeout_s": self.timeout_s,
            "rate": self.rate,
            "count": self.count,
            "fired": self.fired,
        }


def _fault(item: Any, index: int) -> Fault:
    if not isinstance(item, dict):
        raise FaultConfigError(f"fault #{index + 1} must be an object")
    try:
        fault = Fault(
            page_id=str(item.get("page_id", "*")),
            code=int(item.get("code", 0)),
            subcode=int(item.get("subcode", 0)),
            status=int(item.get("status", 0)),
            timeout_s=float(item.get("timeout_s", 0)),
            rate=float(item.get("rate", 1.0)),
            count=int(item.get("count", 0)),
        )
    except (TypeError, ValueError) as exc:
        raise FaultConfigError(f"fault #{index + 1}: {exc}") from None
    if not (fault.code or fault.status or fault.timeout_s):
        raise FaultConfigError(f"fault #{index + 1} needs code, status or timeout_s")
    if not 0.0 <= fault.rate <= 1.0:
        raise FaultConfigError(f"fault #{index + 1}: rate must be between 0 and 1")
    return fault


def parse_faults(raw: str | bytes | list[Any]) -> list[Fault]:
    data: Any = raw
    if isinstance(raw, str | bytes):
        if not raw.strip():
            return []
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise FaultConfigError(f"faults are not JSON: {exc}") from None
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list):
        raise FaultConfigError("faults must be a JSON list of objects")
    return [_fault(item, index) for index, item in enumerate(data)]


def choose_fault(faults: list[Fault], page_id: str, rng: random.Random) -> Fault | None:
    for fault in faults:
        if fault.matches(page_id) and (fault.rate >= 1.0 or rng.random() < fault.rate):
            fault.fired += 1
            return fault
    return None
