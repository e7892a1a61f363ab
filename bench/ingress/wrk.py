"""Run wrk with a signed POST body and read its figures."""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

SCRIPT = """
wrk.method = "POST"
wrk.body = io.open("{body}", "rb"):read("*a")
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-Hub-Signature-256"] = "{signature}"
local pause_ms = 0
function init(args) if args[1] then pause_ms = tonumber(args[1]) end end
function delay() return pause_ms end
"""
_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


@dataclass(frozen=True)
class WrkResult:
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    non_2xx: int
    errors: int


def write_script(directory: Path, body: bytes, signature: str) -> Path:
    body_path = directory / "body.json"
    body_path.write_bytes(body)
    script = directory / "post.lua"
    script.write_text(SCRIPT.format(body=body_path, signature=signature))
    return script


def _ms(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", value).groups()  # type: ignore[union-attr]
    return float(number) * _UNITS[unit]


def parse(output: str) -> WrkResult:
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"\s50%\s+(\S+)", output).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"\s99%\s+(\S+)", output).group(1))  # type: ignore[union-attr]
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    return WrkResult(
        rate,
        p50,
        p99,
        int(non_2xx.group(1)) if non_2xx else 0,
        sum(map(int, errors.groups())) if errors else 0,
    )


def run(
    url: str,
    script: Path,
    seconds: int,
    connections: int,
    threads: int = 2,
    pause_ms: float | None = None,
) -> WrkResult:
    wrk = shutil.which("wrk")
    if wrk is None:
        raise SystemExit("wrk is not installed: apt-get install wrk")
    argv = [
        wrk,
        f"-t{threads}",
        f"-c{connections}",
        f"-d{seconds}s",
        "--latency",
        "-s",
        str(script),
        url,
    ]
    if pause_ms is not None:
        argv += ["--", str(max(0, round(pause_ms)))]
    output = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    return parse(output)
