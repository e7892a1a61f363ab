"""The pages file (HOOKSTREAM_PAGES_FILE): per page its platform, token, responder and rules.

Parsed from YAML nodes, not plain dicts, so that every problem names the file and the line:
`pages.yaml:12: rule 'pricing': regex does not compile: ...`. JSON is valid YAML.

Besides replies, a page says which Meta app it belongs to (`app:`, from the top-level `apps:`;
its secret signs `appsecret_proof`), whether a person answers behind it (`human_agent:`, the
only case in which a reply may carry the HUMAN_AGENT tag), and for Instagram how the account is
connected (`login: instagram | facebook`, `facebook_page_id:`) and which other ids name the same
account (`aliases:`), so that one account never becomes two.
"""

from __future__ import annotations

import hashlib
import hmac
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
LOGINS = ("facebook", "instagram")
MAX_QUICK_REPLIES = 13
# Message tags Meta still accepts, per platform (Messenger Platform docs, 2026: only HUMAN_AGENT,
# on Messenger and on Instagram). Retired tags and when, so that the error can say so.
ACCEPTED_TAGS: dict[str, frozenset[str]] = {
    "messenger": frozenset({"HUMAN_AGENT"}),
    "instagram": frozenset({"HUMAN_AGENT"}),
}
RETIRED_TAGS: dict[str, str] = {
    "ACCOUNT_UPDATE": "2026-04-27",
    "CONFIRMED_EVENT_UPDATE": "2026-04-27",
    "POST_PURCHASE_UPDATE": "2026-04-27",
    **{
        tag: "2020-03-04"
        for tag in (
            "APPLICATION_UPDATE",
            "APPOINTMENT_UPDATE",
            "BUSINESS_PRODUCTIVITY",
            "COMMUNITY_ALERT",
            "CONFIRMED_EVENT_REMINDER",
            "FEATURE_FUNCTIONALITY_UPDATE",
            "GAME_EVENT",
            "ISSUE_RESOLUTION",
            "NON_PROMOTIONAL_SUBSCRIPTION",
            "PAIRING_UPDATE",
            "PAYMENT_UPDATE",
            "PERSONAL_FINANCE_UPDATE",
            "RESERVATION_UPDATE",
            "SHIPPING_UPDATE",
            "TICKET_UPDATE",
            "TRANSPORTATION_UPDATE",
        )
    },
}


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
    outside_window_tag: str | None = None  # HUMAN_AGENT (with human_agent); None: not outside 24 h
    app: str = ""  # a name under the top-level `apps:`; "" = the single configured app, if any
    human_agent: bool = False  # a person answers behind this page (HUMAN_AGENT allowed)
    login: str = "facebook"  # instagram accounts: Instagram Login or Facebook Login (linked page)
    facebook_page_id: str = ""  # instagram with login facebook: the linked Facebook Page
    aliases: tuple[str, ...] = ()  # other ids of this same account
    subscribe_feed: bool = False  # also subscribe the page's `feed` webhook field


@dataclass(frozen=True)
class AppConfig:
    """A Meta app: its id (for the app access token) and secret (for appsecret_proof)."""

    name: str
    app_id: str = ""
    app_secret: Secret = Secret("")


@dataclass(frozen=True)
class PagesConfig:
    pages: Mapping[str, PageConfig] = field(default_factory=dict)
    source: Path | None = None
    apps: Mapping[str, AppConfig] = field(default_factory=dict)
    aliases: Mapping[str, str] = field(default_factory=dict)  # alias id -> page id

    def page(self, page_id: str) -> PageConfig | None:
        page = self.pages.get(page_id)
        if page is None and self.aliases:
            alias = self.aliases.get(page_id)
            return self.pages.get(alias) if alias else None
        return page

    def canonical(self, page_id: str) -> str:
        """The configured id of the account that `page_id` names (itself when not an alias)."""
        return self.aliases.get(page_id, page_id)

    def app_of(self, page: PageConfig) -> AppConfig | None:
        """The page's app; without `app:`, the only app of the file when there is exactly one."""
        if page.app:
            return self.apps.get(page.app)
        return next(iter(self.apps.values())) if len(self.apps) == 1 else None


def app_secret_for(
    pages: PagesConfig, page: PageConfig, configured: tuple[Secret, ...] = ()
) -> Secret | None:
    """The secret that signs this page's Graph calls (appsecret_proof): its app's secret, else
    the single secret of HOOKSTREAM_APP_SECRETS; None when it cannot be known (several secrets
    and no `app:`), in which case calls go without a proof."""
    app = pages.app_of(page)
    if app is not None and app.app_secret:
        return app.app_secret
    if page.app:
        return None
    usable = [secret for secret in configured if secret]
    return usable[0] if len(usable) == 1 else None


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
        if not any(key in fields for key in ("text", "attachment", "sticker_id")):
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

    def flag(self, fields: dict[str, yaml.Node], key: str) -> bool:
        if key not in fields:
            return False
        value = self.plain(fields[key])
        if not isinstance(value, bool):
            raise self.fail(fields[key], f"{key} must be true or false")
        return value

    def tag(self, node: yaml.Node, where: str, platform: str, human_agent: bool) -> str:
        tag = self.scalar(node, "outside_window_tag").strip().upper()
        accepted = ACCEPTED_TAGS[platform]
        if tag in RETIRED_TAGS:
            raise self.fail(
                node,
                f"{where}: outside_window_tag {tag} was retired by Meta on {RETIRED_TAGS[tag]}; "
                f"{platform} accepts only {', '.join(sorted(accepted))}",
            )
        if tag not in accepted:
            raise self.fail(
                node,
                f"{where}: outside_window_tag {tag} is not a tag Meta accepts on {platform} "
                f"(accepted: {', '.join(sorted(accepted))})",
            )
        if tag == "HUMAN_AGENT" and not human_agent:
            raise self.fail(
                node,
                f"{where}: outside_window_tag HUMAN_AGENT is only for replies a person writes; "
                "set human_agent: true if a person answers behind this page, else remove it",
            )
        return tag

    def ids(self, node: yaml.Node, what: str) -> tuple[str, ...]:
        if not isinstance(node, yaml.SequenceNode):
            raise self.fail(node, f"{what} must be a list of ids")
        return tuple(self.scalar(item, what).strip() for item in node.value)

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
        platform = self.option(fields, "platform", PLATFORMS, "messenger", where)
        human_agent = self.flag(fields, "human_agent")
        tag = fields.get("outside_window_tag")
        login = self.option(fields, "login", LOGINS, "facebook", where)
        if login == "instagram" and platform != "instagram":
            raise self.fail(fields["login"], f"{where}: login instagram is for instagram accounts")
        linked = fields.get("facebook_page_id")
        if linked is not None and (platform != "instagram" or login != "facebook"):
            raise self.fail(
                linked, f"{where}: facebook_page_id is for instagram accounts with login facebook"
            )
        return PageConfig(
            page_id=page_id,
            platform=platform,
            access_token=token,
            access_token_ref=ref,
            responder=responder,
            rules=self.rules(fields, where),
            llm=llm,
            fallback=self.reply(fallback, f"{where}: fallback") if fallback else None,
            typing_on=bool(self.plain(fields["typing_on"])) if "typing_on" in fields else False,
            outside_window_tag=self.tag(tag, where, platform, human_agent) if tag else None,
            app=self.scalar(fields["app"], "app") if "app" in fields else "",
            human_agent=human_agent,
            login=login,
            facebook_page_id=self.scalar(linked, "facebook_page_id") if linked else "",
            aliases=self.ids(fields["aliases"], "aliases") if "aliases" in fields else (),
            subscribe_feed=self.flag(fields, "subscribe_feed"),
        )

    def app(self, name: str, node: yaml.Node) -> AppConfig:
        fields = self.mapping(node, f"app {name}")
        secret = Secret("")
        if "app_secret" in fields:
            secret = self.secret(fields["app_secret"], "app_secret")[0]
        app_id = self.scalar(fields["app_id"], "app_id").strip() if "app_id" in fields else ""
        return AppConfig(name, app_id, secret)


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
    apps: dict[str, AppConfig] = {}
    if "apps" in top:
        app_nodes = reader.mapping(top["apps"], "apps")
        apps = {name: reader.app(name, node) for name, node in app_nodes.items()}
    page_nodes = reader.mapping(top["pages"], "pages")
    pages = {page_id: reader.page(page_id, node) for page_id, node in page_nodes.items()}
    aliases: dict[str, str] = {}
    for page_id, page in pages.items():
        node = page_nodes[page_id]
        if page.app and page.app not in apps:
            raise reader.fail(node, f"page {page_id}: app {page.app!r} is not under apps:")
        for alias in page.aliases:
            if alias in pages:
                raise reader.fail(
                    node,
                    f"page {page_id}: alias {alias} is also configured as a page of its own; "
                    "one account connected twice would split into two conversations: "
                    "keep one entry and list the other id under its aliases",
                )
            if alias in aliases:
                raise reader.fail(
                    node, f"page {page_id}: alias {alias} is already an alias of {aliases[alias]}"
                )
            aliases[alias] = page_id
    return PagesConfig(pages, path, apps, aliases)


def load_pages(path: Path | None, environ: Mapping[str, str]) -> PagesConfig:
    if path is None:
        return PagesConfig({}, None)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the pages file: {exc.strerror}") from None
    return parse_pages(text, path, environ)


def appsecret_proof(secret: str, token: str) -> str:
    """Meta's appsecret_proof: hex HMAC-SHA256 of the access token, keyed with the app secret."""
    return hmac.new(secret.encode(), token.encode(), hashlib.sha256).hexdigest()
