"""Every rate the banner and the docs suggest for `simulate` is within what the end-to-end
benchmark shows this machine holds (docs/benchmarks/e2e.md), and none above the default."""

from __future__ import annotations

import re
from pathlib import Path

from hookstream.cli.simulate import DEFAULT_RATE
from hookstream.embedded.stack import ServiceSpec, Stack

ROOT = Path(__file__).resolve().parents[4]
# A body carries about 4 events; the step test held 250 events/s (e2e.md, "Step test").
EVENTS_PER_REQUEST = 4
HELD_EVENTS_PER_S = 250
SUGGESTED = re.compile(r"hookstream simulate\b[^\n`]*?--rate[ =](\d+(?:\.\d+)?)")


def suggested_rates(text: str) -> list[float]:
    return [float(rate) for rate in SUGGESTED.findall(text)]


def test_the_default_fits_what_the_bench_held() -> None:
    assert DEFAULT_RATE * EVENTS_PER_REQUEST < HELD_EVENTS_PER_S
    e2e = (ROOT / "docs" / "benchmarks" / "e2e.md").read_text()
    assert re.search(r"\| 250 \| 250\.\d \|.*\| 100% \|", e2e), "the 250 events/s step moved"


def test_the_banner_suggests_the_default_rate() -> None:
    stack = Stack(settings_env={}, services=(ServiceSpec("ingress", 8000, "webhooks"),))
    banner = stack.banner()
    assert "hookstream simulate" in banner
    assert all(rate <= DEFAULT_RATE for rate in suggested_rates(banner)), banner


def test_the_docs_suggest_no_rate_above_the_default() -> None:
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    found = {
        str(page.relative_to(ROOT)): rates
        for page in pages
        if "benchmarks" not in page.parts
        for rates in [suggested_rates(page.read_text())]
        if rates
    }
    assert found, "no suggested rate found: the pattern no longer matches the docs"
    too_high = {page: rates for page, rates in found.items() if max(rates) > DEFAULT_RATE}
    assert too_high == {}


def test_the_pattern_reads_a_command_line() -> None:
    text = ".venv/bin/hookstream simulate --url http://x/webhook --rate 50 --duration 10"
    assert suggested_rates(text) == [50.0]
    assert suggested_rates("`simulate --rate 200` is ~800 events/s") == []
