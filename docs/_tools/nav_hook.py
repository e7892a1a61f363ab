"""MkDocs hook: put the pages that come and go into the nav, so the site never lists a missing
page (which --strict fails) nor leaves an existing one out.

- `docs/brokers.md` (the brokers page, written with the Kafka work) after "Gotchas";
- `docs/meta/*.md` (Meta and Instagram setup) as a section after "Getting started";
- other pages in `docs/benchmarks/`, then `docs/benchmarks/reports/*.md` (dated reports, newest
  first) under "Benchmarks".

Each page's nav title is its first `# ` heading.

It also renders, from the code itself so the pages cannot drift: every `hookstream <command>
--help` into the CLI reference (`<!-- cli-help -->`), the metrics every service exports into the
metrics reference (`<!-- metrics -->`), and the list of benchmark reports
(`<!-- bench-reports -->`).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path
from typing import Any

NavItem = Any  # str | dict[str, str | list[NavItem]], as mkdocs.yml's nav


def title_of(path: Path) -> str:
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("# "):
            return line[2:].strip()
    return path.stem.replace("-", " ").capitalize()


def _entries(docs: Path, pages: list[Path]) -> list[NavItem]:
    return [{title_of(p): p.relative_to(docs).as_posix()} for p in pages]


def _index_of(nav: list[NavItem], title: str) -> int:
    for number, item in enumerate(nav):
        if isinstance(item, dict) and title in item:
            return number
    raise KeyError(f"mkdocs.yml nav has no {title!r} entry")


def extend_nav(nav: list[NavItem], docs: Path) -> list[NavItem]:
    nav = list(nav)
    meta = sorted((docs / "meta").glob("*.md"), key=lambda p: (p.stem != "index", p.name))
    if meta:
        nav.insert(
            _index_of(nav, "Getting started") + 1, {"Meta and Instagram": _entries(docs, meta)}
        )
    if (docs / "brokers.md").is_file():
        nav.insert(_index_of(nav, "Gotchas") + 1, {"Brokers": "brokers.md"})
    # other pages written under docs/benchmarks/ (a study beside the dated reports), then the
    # reports, newest first
    studies = sorted(p for p in (docs / "benchmarks").glob("*.md") if p.name != "index.md")
    reports = sorted((docs / "benchmarks" / "reports").glob("*.md"), reverse=True)
    if studies or reports:
        at = _index_of(nav, "Benchmarks")
        listed = nav[at]["Benchmarks"]
        nav[at] = {"Benchmarks": [*listed, *_entries(docs, studies), *_entries(docs, reports)]}
    return nav


def on_config(config: Any) -> Any:
    config["nav"] = extend_nav(config["nav"], Path(config["docs_dir"]))
    return config


CLI_HELP_MARK = "<!-- cli-help -->"


def _helps(parser: argparse.ArgumentParser, prefix: str) -> list[tuple[str, str]]:
    found = [(prefix, parser.format_help())]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in sorted(action.choices.items()):
                found += _helps(sub, f"{prefix} {name}")
    return found


def cli_help() -> str:
    from hookstream.cli import build_parser  # the project's own CLI, installed in the venv

    os.environ["COLUMNS"] = "100"  # argparse wraps to the terminal; the page must not depend on it
    parser = build_parser()
    parts = []
    for command, text in _helps(parser, "hookstream")[1:]:
        parts += [f"### `{command}`", "", "```text", text.rstrip(), "```", ""]
    return "\n".join(parts)


REPORTS_MARK = "<!-- bench-reports -->"
METRICS_MARK = "<!-- metrics -->"


def metrics_tables() -> str:
    sys.path.insert(0, str(Path(__file__).parent))
    try:
        import metrics_reference  # docs/_tools/metrics_reference.py
    finally:
        sys.path.pop(0)
    return str(metrics_reference.render())


def report_list(docs: Path) -> str:
    reports = sorted((docs / "benchmarks" / "reports").glob("*.md"), reverse=True)
    if not reports:
        return "No report yet."
    return "\n".join(f"- [{title_of(p)}](reports/{p.name})" for p in reports)


# Pages other parts of the project write; a link to one that does not exist (yet) becomes its
# text, so the site builds strictly either way.
OPTIONAL_PAGES = ("brokers.md", "meta/setup.md", "meta/troubleshooting.md")
LINK = re.compile(r"\[([^\]]+)\]\(((?:\.\./)*)([\w/.-]+\.md)(#[\w-]+)?\)")


def drop_links_to_missing(markdown: str, docs: Path) -> str:
    def replace(match: re.Match[str]) -> str:
        target = match.group(3)
        if target in OPTIONAL_PAGES and not (docs / target).is_file():
            return match.group(1)
        return match.group(0)

    return LINK.sub(replace, markdown)


def on_page_markdown(markdown: str, page: Any, config: Any, **_: Any) -> str:
    markdown = drop_links_to_missing(markdown, Path(config["docs_dir"]))
    if CLI_HELP_MARK in markdown:
        markdown = markdown.replace(CLI_HELP_MARK, cli_help())
    if METRICS_MARK in markdown:
        markdown = markdown.replace(METRICS_MARK, metrics_tables())
    if REPORTS_MARK in markdown:
        markdown = markdown.replace(REPORTS_MARK, report_list(Path(config["docs_dir"])))
    return markdown
