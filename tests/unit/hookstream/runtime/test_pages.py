from __future__ import annotations

from pathlib import Path

import pytest

from hookstream.runtime.errors import ConfigError
from hookstream.runtime.pages import app_secret_for, appsecret_proof, load_pages, parse_pages
from hookstream.runtime.settings import Secret

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


@pytest.mark.parametrize(
    ("page", "problem"),
    [
        (
            "    outside_window_tag: ACCOUNT_UPDATE\n",
            r"p\.yaml:4: page 1: outside_window_tag ACCOUNT_UPDATE was retired by Meta on "
            r"2026-04-27; messenger accepts only HUMAN_AGENT",
        ),
        (
            "    outside_window_tag: shipping_update\n",
            r"p\.yaml:4: .*SHIPPING_UPDATE was retired by Meta on 2020-03-04",
        ),
        ("    outside_window_tag: NOPE\n", r"p\.yaml:4: .*NOPE is not a tag Meta accepts"),
        (
            "    outside_window_tag: HUMAN_AGENT\n",
            r"p\.yaml:4: page 1: outside_window_tag HUMAN_AGENT is only for replies a person "
            r"writes; set human_agent: true",
        ),
        ("    login: instagram\n", r"p\.yaml:4: page 1: login instagram is for instagram"),
        ("    app: nope\n", r"p\.yaml:3: page 1: app 'nope' is not under apps:"),
        ("    human_agent: maybe\n", r"p\.yaml:4: human_agent must be true or false"),
    ],
)
def test_tags_and_meta_settings_are_checked_with_file_and_line(page: str, problem: str) -> None:
    text = "pages:\n  '1':\n    platform: messenger\n" + page
    with pytest.raises(ConfigError, match=problem):
        parse_pages(text, Path("p.yaml"), {})


def test_human_agent_tag_with_a_person_behind_the_page() -> None:
    text = "pages:\n  '1':\n    human_agent: true\n    outside_window_tag: human_agent\n"
    page = parse_pages(text, Path("p.yaml"), {}).page("1")
    assert page is not None and page.outside_window_tag == "HUMAN_AGENT" and page.human_agent


def test_an_instagram_account_under_two_ids_is_one_page() -> None:
    text = (
        "pages:\n  '17841400000000001':\n    platform: instagram\n    login: instagram\n"
        "    aliases: ['9000000001']\n"
    )
    config = parse_pages(text, Path("p.yaml"), {})
    assert config.page("9000000001") is config.page("17841400000000001") is not None
    assert config.canonical("9000000001") == "17841400000000001"
    assert config.canonical("17841400000000001") == "17841400000000001"
    split = text + "  '9000000001':\n    platform: instagram\n"
    with pytest.raises(ConfigError, match=r"p\.yaml:3: .*alias 9000000001 is also configured"):
        parse_pages(split, Path("p.yaml"), {})


def test_app_secret_of_a_page_and_the_proof() -> None:
    text = (
        "apps:\n  main: {app_id: '77', app_secret: env:SECRET}\n"
        "pages:\n  '1': {app: main}\n  '2': {}\n"
    )
    config = parse_pages(text, Path("p.yaml"), {"SECRET": "s3cret-app"})
    one, two = config.page("1"), config.page("2")
    assert one is not None and two is not None
    secret = app_secret_for(config, one)
    assert secret is not None and secret.reveal() == "s3cret-app" and "s3cret" not in repr(config)
    assert app_secret_for(config, two) == secret  # the file's only app
    bare = parse_pages("pages:\n  '1': {}\n", Path("p.yaml"), {})
    page = bare.page("1")
    assert page is not None
    assert app_secret_for(bare, page, (Secret("only"),)) == Secret("only")
    assert app_secret_for(bare, page, (Secret("a"), Secret("b"))) is None  # which one: unknown
    # openssl dgst -sha256 -hmac s3cret-app <<< tok-1001 (without the newline)
    expected = "8bc094ac86cb25b5a3a42496850a68f8a3d54de4791bde0b8d7cf8c93b064da9"
    assert appsecret_proof("s3cret-app", "tok-1001") == expected
