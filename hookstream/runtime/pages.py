"""The pages file (HOOKSTREAM_PAGES_FILE): per page its platform, token, responder and rules.

Parsed from YAML nodes, not plain dicts, so that every problem names the file and the line:
`pages.yaml:12: rule 'pricing': regex does not compile: ...`. JSON is valid YAML.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from hookstream.runtime.errors import ConfigError
from hookstream.runtime.settings import Secret

PLATFORMS = ("messenger", "instagram")
RESPONDERS = ("rules", "llm", "none")
MAX_QUICK_REPLIES = 13


@dataclass(frozen=True)
class Rule:
    name: str
    reply: dict[str, Any]  # Meta's `message` object: text / attachment / quick_replies
    keywords: tuple[str, ...] = ()
    regex: re.Pattern[str] | None = None
    payload: str | None = None


@dataclass(frozen=True)
class LlmConfig:
    base_url: str
    model: str
    api_key: Secret = Secret("")
    system_prompt: str = "You are a helpful assistant answering customer messages briefly."


@dataclass(frozen=True)
class PageConfig:
    page_id: str
    platform: str = "messenger"
    access_token: Secret = Secret("")
    access_token_ref: str = ""  # "env:VAR" when the token comes from the environment
    responder: str = "rules"
    rules: tuple[Rule, ...] = ()
    fallback: dict[str, Any] | None = None
    llm: LlmConfig | None = None
    typing_on: bool = False
    outside_window_tag: str | None = None  # e.g. HUMAN_AGENT; None: no reply outside 24 h


@dataclass(frozen=True)
class PagesConfig:
    pages: Mapping[str, PageConfig] = field(default_factory=dict)
    source: Path | None = None

    def page(self, page_id: str) -> PageConfig | None:
        return self.pages.get(page_id)


class _Reader:
    """Walks YAML nodes and raises ConfigError with file:line."""

    def __init__(self, path: Path, environ: Mapping[str, str]) -> None:
        self.path, self.environ = path, environ

    def fail(self, node: yaml.Node, problem: str) -> ConfigError:
        return ConfigError(f"{self.path}:{node.start_mark.line + 1}: {problem}")

    def mapping(self, node: yaml.Node, what: str) -> dict[str, yaml.Node]:
        if not isinstance(node, yaml.MappingNode):
            raise self.fail(node, f"{what} must be a mapping")
        return {str(k.value): v for k, v in node.value}

    def scalar(self, node: yaml.Node, what: str) -> str:
        if not isinstance(node, yaml.ScalarNode):
            raise self.fail(node, f"{what} must be a single value")
        return str(node.value)

    def plain(self, node: yaml.Node) -> Any:
        return yaml.safe_load(yaml.serialize(node))

    def secret(self, node: yaml.Node, what: str) -> tuple[Secret, str]:
        raw = self.scalar(node, what)
        if raw.startswith("env:"):
            return Secret(self.environ.get(raw[4:], "")), raw
        return Secret(raw), ""

    def reply(self, node: yaml.Node, what: str) -> dict[str, Any]:
        fields = self.mapping(node, what)
        reply: dict[str, Any] = self.plain(node)
        if not any(key in fields for key in ("text", "attachment")):
            raise self.fail(node, f"{what} needs text or attachment")
        if "text" in fields and not str(reply["text"]).strip():
            raise self.fail(fields["text"], f"{what}: text is empty")
        quick = reply.get("quick_replies") or []
        if not isinstance(quick, list) or len(quick) > MAX_QUICK_REPLIES:
            raise self.fail(node, f"{what}: quick_replies must be a list of at most 13")
        reply["quick_replies"] = [_quick_reply(q) for q in quick]
        if not reply["quick_replies"]:
            del reply["quick_replies"]
        return reply

    def rule(self, node: yaml.Node, index: int) -> Rule:
        fields = self.mapping(node, f"rule #{index + 1}")
        name = self.scalar(fields["name"], "name") if "name" in fields else f"rule-{index + 1}"
        if "match" not in fields or "reply" not in fields:
            raise self.fail(node, f"rule {name!r} needs match and reply")
        match = self.mapping(fields["match"], f"rule {name!r}: match")
        keywords: tuple[str, ...] = ()
        regex = payload = None
        if "keywords" in match:
            words = self.plain(match["keywords"])
            if not isinstance(words, list) or not words:
                raise self.fail(match["keywords"], f"rule {name!r}: keywords must be a list")
            keywords = tuple(str(word).lower() for word in words)
        if "regex" in match:
            try:
                regex = re.compile(self.scalar(match["regex"], "regex"), re.IGNORECASE)
            except re.error as exc:
                problem = f"rule {name!r}: regex does not compile: {exc}"
                raise self.fail(match["regex"], problem) from None
        if "payload" in match:
            payload = self.scalar(match["payload"], "payload")
        if not (keywords or regex or payload):
            raise self.fail(fields["match"], f"rule {name!r}: match needs keywords/regex/payload")
        reply = self.reply(fields["reply"], f"rule {name!r}: reply")
        return Rule(name=name, reply=reply, keywords=keywords, regex=regex, payload=payload)

    def llm(self, node: yaml.Node) -> LlmConfig:
        fields = self.mapping(node, "llm")
        for required in ("base_url", "model"):
            if required not in fields:
                raise self.fail(node, f"llm needs {required}")
        api_key = Secret("")
        if "api_key" in fields:
            api_key = self.secret(fields["api_key"], "api_key")[0]
        config = LlmConfig(
            self.scalar(fields["base_url"], "base_url").rstrip("/"),
            self.scalar(fields["model"], "model"),
            api_key,
        )
        if "system_prompt" in fields:
            config = LlmConfig(
                config.base_url,
                config.model,
                config.api_key,
                self.scalar(fields["system_prompt"], "system_prompt"),
            )
        return config

    def option(
        self,
        fields: dict[str, yaml.Node],
        key: str,
        allowed: tuple[str, ...],
        default: str,
        where: str,
    ) -> str:
        if key not in fields:
            return default
        value = self.scalar(fields[key], key)
        if value not in allowed:
            raise self.fail(fields[key], f"{where}: {key} must be one of {', '.join(allowed)}")
        return value

    def rules(self, fields: dict[str, yaml.Node], where: str) -> tuple[Rule, ...]:
        node = fields.get("rules")
        if node is None:
            return ()
        if not isinstance(node, yaml.SequenceNode):
            raise self.fail(node, f"{where}: rules must be a list")
        return tuple(self.rule(item, index) for index, item in enumerate(node.value))

    def page(self, page_id: str, node: yaml.Node) -> PageConfig:
        where = f"page {page_id}"
        fields = self.mapping(node, where)
        token, ref = Secret(""), ""
        if "access_token" in fields:
            token, ref = self.secret(fields["access_token"], "access_token")
        responder = self.option(fields, "responder", RESPONDERS, "rules", where)
        llm = self.llm(fields["llm"]) if "llm" in fields else None
        if responder == "llm" and llm is None:
            raise self.fail(node, f"{where}: responder llm needs an llm section")
        fallback = fields.get("fallback")
        tag = fields.get("outside_window_tag")
        return PageConfig(
            page_id=page_id,
            platform=self.option(fields, "platform", PLATFORMS, "messenger", where),
            access_token=token,
            access_token_ref=ref,
            responder=responder,
            rules=self.rules(fields, where),
            llm=llm,
            fallback=self.reply(fallback, f"{where}: fallback") if fallback else None,
            typing_on=bool(self.plain(fields["typing_on"])) if "typing_on" in fields else False,
            outside_window_tag=self.scalar(tag, "outside_window_tag") if tag else None,
        )


def _quick_reply(value: Any) -> dict[str, Any]:
    if isinstance(value, dict) and "title" in value:
        return {
            "content_type": "text",
            "title": str(value["title"]),
            "payload": str(value.get("payload", value["title"])),
        }
    raise ConfigError(f"quick reply {value!r} needs a title")


def parse_pages(text: str, path: Path, environ: Mapping[str, str]) -> PagesConfig:
    reader = _Reader(path, environ)
    try:
        root = yaml.compose(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f"{mark.line + 1}" if mark is not None else "?"
        problem = getattr(exc, "problem", exc)
        raise ConfigError(f"{path}:{line}: not valid YAML: {problem}") from None
    if root is None:
        return PagesConfig({}, path)
    top = reader.mapping(root, "the pages file")
    if "pages" not in top:
        raise reader.fail(root, "the pages file needs a top-level 'pages' mapping")
    page_nodes = reader.mapping(top["pages"], "pages")
    pages = {page_id: reader.page(page_id, node) for page_id, node in page_nodes.items()}
    return PagesConfig(pages, path)


def load_pages(path: Path | None, environ: Mapping[str, str]) -> PagesConfig:
    if path is None:
        return PagesConfig({}, None)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the pages file: {exc.strerror}") from None
    return parse_pages(text, path, environ)
