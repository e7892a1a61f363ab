from __future__ import annotations

from pathlib import Path

import pytest

from hookstream.runtime.errors import ConfigError
from hookstream.runtime.pages import load_pages, parse_pages

EXAMPLE = Path(__file__).parents[4] / "deploy" / "pages.example.yaml"


def test_example_pages_file_loads_with_tokens_from_the_environment() -> None:
    config = load_pages(EXAMPLE, {"PAGE_1001_TOKEN": "tok-1001"})
    page = config.page("1001")
    assert page is not None and page.platform == "messenger"
    assert page.access_token.reveal() == "tok-1001" and "tok-1001" not in repr(page)
    assert [rule.name for rule in page.rules] == ["pricing", "get-started", "hours"]
    assert page.rules[0].keywords == ("price", "cost", "pricing")
    assert page.rules[0].reply["quick_replies"][0] == {
        "content_type": "text",
        "title": "Buy",
        "payload": "BUY",
    }
    assert page.rules[2].regex is not None and page.rules[2].regex.search("When are you OPEN?")
    ig = config.page("17841400000000001")
    assert ig is not None and ig.platform == "instagram" and not ig.access_token


def test_json_is_accepted() -> None:
    text = '{"pages": {"7": {"platform": "instagram", "access_token": "t", "responder": "none"}}}'
    page = parse_pages(text, Path("p.json"), {}).page("7")
    assert page is not None and page.responder == "none" and page.access_token.reveal() == "t"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("pages:\n  '1':\n    platform: telegram\n", r"p\.yaml:3: page 1: platform must be one of"),
        (
            "pages:\n  '1':\n    rules:\n      - name: x\n        match: {regex: '('}\n"
            "        reply: {text: hi}\n",
            r"p\.yaml:5: rule 'x': regex does not compile",
        ),
        (
            "pages:\n  '1':\n    rules:\n      - name: x\n        reply: {text: hi}\n",
            r"p\.yaml:4: rule 'x' needs match and reply",
        ),
        (
            "pages:\n  '1':\n    rules:\n      - name: x\n        match: {keywords: [a]}\n"
            "        reply: {quick_replies: []}\n",
            r"p\.yaml:6: rule 'x': reply needs text or attachment",
        ),
        ("pages:\n  '1':\n    responder: llm\n", r"p\.yaml:3: page 1: responder llm needs an llm"),
        ("pages: [\n", r"p\.yaml:2: not valid YAML"),
        ("other: 1\n", r"p\.yaml:1: the pages file needs a top-level 'pages'"),
    ],
)
def test_invalid_files_name_file_line_and_problem(text: str, problem: str) -> None:
    with pytest.raises(ConfigError, match=problem):
        parse_pages(text, Path("p.yaml"), {})


def test_unreadable_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the pages file"):
        load_pages(tmp_path / "missing.yaml", {})
