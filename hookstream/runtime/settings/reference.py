"""The configuration reference, generated from the Settings object itself.

    python -m hookstream.runtime.settings.reference            # rewrite the pages
    python -m hookstream.runtime.settings.reference --check    # exit 1 if a page is stale

Writes `docs/reference/configuration.md` (every environment variable `Settings.from_env` reads:
its setting, type, default and meaning) and `docs/reference/services.md` (the services table of
`hookstream.runtime.services_table`). A unit test fails when a checked-in page differs from what
this renders, so the docs cannot drift from the code.

How a variable is tied to its setting: `Settings.from_env` runs once against an environment that
records each variable read through `Env` (name, kind, default), then once per variable with only
that variable set to a probe value; the field that changed is the variable's setting. Nothing is
parsed from source code, so a renamed variable or a new field shows up by itself. The meanings are
hand-written (`MEANINGS` below); a variable without one there gets the comment at its field in
the settings source, else a placeholder that says where to add it.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import inspect
import re
import sys
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hookstream.runtime.errors import ConfigError
from hookstream.runtime.services_table import SERVICES, STANDARD_PATHS
from hookstream.runtime.settings import RETIRED, Settings
from hookstream.runtime.settings import env as env_module
from hookstream.runtime.settings.env import Secret

ROOT = Path(__file__).resolve().parents[3]
CONFIGURATION_PAGE = ROOT / "docs" / "reference" / "configuration.md"
SERVICES_PAGE = ROOT / "docs" / "reference" / "services.md"

# Section of Settings -> the heading it gets on the page, in page order.
SECTIONS = {
    "": "General",
    "kafka": "Kafka",
    "ingress": "Ingress",
    "processors": "Processors",
    "sender": "Sender and Send API sandbox",
    "sink": "Analytics sink and ClickHouse",
    "ops": "Lag exporter and operations",
    "console": "Console",
}

MEANINGS: dict[str, str] = {
    # general
    "HOOKSTREAM_PAGES_FILE": "pages config (YAML or JSON): per page its platform, token, rules; "
    "without it, `pages.yaml` if the working directory has one",
    "HOOKSTREAM_LOG_FORMAT": "log format: `json` or `text`",
    "HOOKSTREAM_LOG_LEVEL": "log level (`DEBUG`, `INFO`, `WARNING`, `ERROR`)",
    "HOOKSTREAM_STATE_DIR": "local state: embedded engine, logs, the running stack's file",
    # kafka
    "KAFKA_BOOTSTRAP_SERVERS": "Kafka bootstrap list; the embedded broker under `make up`",
    "HOOKSTREAM_TOPIC_PREFIX": "prefix of every topic name",
    "KAFKA_PARTITIONS": "partitions per topic when hookstream creates them",
    "KAFKA_REPLICATION_FACTOR": "replication factor of the topics hookstream creates",
    "KAFKA_ENABLE_IDEMPOTENCE": "idempotent producer (off under `make up`: the embedded broker "
    "cannot)",
    "KAFKA_SECURITY_PROTOCOL": "`PLAINTEXT`, `SSL`, `SASL_PLAINTEXT` or `SASL_SSL`",
    "KAFKA_SASL_MECHANISM": "SASL mechanism, e.g. `PLAIN`, `SCRAM-SHA-512`",
    "KAFKA_SASL_USERNAME": "SASL user name",
    "KAFKA_SASL_PASSWORD": "SASL password",
    "KAFKA_REQUEST_TIMEOUT_S": "aiokafka request timeout (processors, sender, ops tools)",
    "KAFKA_LINGER_MS": "aiokafka producer linger (processors, sender, ops tools)",
    # ingress
    "HOOKSTREAM_APP_SECRETS": "comma-separated Meta app secrets; a signature valid under any "
    "of them is accepted (rotation, several apps). Required outside `make up`",
    "HOOKSTREAM_VERIFY_TOKEN": "the verify token Meta sends to `GET /webhook`. Required "
    "outside `make up`",
    "HOOKSTREAM_API_KEY": "bearer token of `POST /api/messages`; the endpoint answers 503 "
    "without it",
    "HOOKSTREAM_INGRESS_ALLOW_SHA1_SIGNATURE": "also accept the legacy `X-Hub-Signature` (sha1)",
    "HOOKSTREAM_INGRESS_ACK_DEADLINE_S": "time for Kafka to acknowledge a webhook's events before "
    "503",
    "HOOKSTREAM_INGRESS_MAX_BODY_BYTES": "largest accepted body (larger: 413)",
    "HOOKSTREAM_INGRESS_RETRY_AFTER_S": "`Retry-After` of a 503",
    "HOOKSTREAM_INGRESS_READINESS_INTERVAL_S": "period of the broker check behind `/readyz`",
    "HOOKSTREAM_INGRESS_LINGER_MS": "librdkafka linger: gathers concurrent requests' records "
    "into one produce request",
    "HOOKSTREAM_INGRESS_BODY_TIMEOUT_S": "a body must arrive within this long of its headers, else "
    "408 and the connection is closed (slow clients)",
    "HOOKSTREAM_INGRESS_MAX_INFLIGHT_BYTES": "body bytes held across all connections at once, "
    "beyond each request's first `HOOKSTREAM_INGRESS_SMALL_BODY_BYTES`; more: 503 `server_busy` "
    "with `Retry-After`",
    "HOOKSTREAM_INGRESS_SMALL_BODY_BYTES": "the part of each body that does not count against "
    "`HOOKSTREAM_INGRESS_MAX_INFLIGHT_BYTES`",
    "HOOKSTREAM_INGRESS_MAX_REQUESTS": "requests in progress at once; more: 503 `server_busy` "
    "with `Retry-After`",
    "HOOKSTREAM_INGRESS_HEAD_TIMEOUT_S": "a request's head (request line and headers) must "
    "arrive within this long of the connection or of the request's first byte, else 408 "
    "and the connection is closed",
    "HOOKSTREAM_INGRESS_MAX_HEAD_BYTES": "largest request head; larger: 431 and the connection "
    "is closed",
    # processors
    "HOOKSTREAM_PROCESSORS_APP_ID": "faust app id = consumer group; empty means "
    "`<prefix>processors`. Reprocess under a fresh one",
    "HOOKSTREAM_PROCESSORS_DEDUPE_WINDOW_S": "how long an event id is remembered to drop Meta's "
    "redeliveries",
    "HOOKSTREAM_PROCESSORS_DEDUPE_MAX_IDS": "event ids kept per conversation within the window",
    "HOOKSTREAM_PROCESSORS_HISTORY_SIZE": "messages kept per conversation (the LLM responder's "
    "context)",
    "HOOKSTREAM_PROCESSORS_RATE_LIMIT_COUNT": "automatic replies per page and user per window",
    "HOOKSTREAM_PROCESSORS_RATE_LIMIT_WINDOW_S": "the window of the reply rate limit",
    "HOOKSTREAM_PROCESSORS_LLM_TIMEOUT_S": "LLM responder timeout before the fallback reply",
    "HOOKSTREAM_PROCESSORS_BATCH_SIZE": "events taken from the stream at once",
    "HOOKSTREAM_PROCESSORS_BATCH_WITHIN_S": "longest wait to fill a batch",
    "HOOKSTREAM_PROCESSORS_FETCH_MAX_WAIT_MS": "consumer fetch wait (faust's own 1500 ms adds up "
    "to "
    "1.5 s per reply)",
    "HOOKSTREAM_PROCESSORS_PAGES_POLL_S": "how often the pages file is checked for a reload",
    "HOOKSTREAM_PROCESSORS_SESSION_TIMEOUT_S": "a dead worker's partitions move after this long",
    # sender
    "GRAPH_API_BASE_URL": "Send API base URL (the sandbox under `make up`)",
    "GRAPH_API_VERSION": "Graph API version of the Send API calls",
    "HOOKSTREAM_SENDER_INSTAGRAM_API_BASE_URL": "base URL of the calls for Instagram accounts "
    "connected "
    "through Instagram Login",
    "HOOKSTREAM_SENDER_CONCURRENCY": "Send API calls in flight (conversations and pages in "
    "parallel; each conversation in order)",
    "HOOKSTREAM_SENDER_PAGE_RATE_PER_S": "token bucket per page (halved on throttling errors)",
    "HOOKSTREAM_SENDER_MAX_ATTEMPTS": "attempts on transient errors before `retries_exhausted`",
    "HOOKSTREAM_SENDER_BACKOFF_BASE_S": "first retry backoff (exponential, with jitter)",
    "HOOKSTREAM_SENDER_BACKOFF_MAX_S": "longest retry backoff",
    "HOOKSTREAM_SENDER_HTTP_TIMEOUT_S": "read timeout of one Send API call",
    "HOOKSTREAM_SENDER_STOPPED_PAGE_DLQ_AFTER_S": "dead-letter a stopped page's commands after "
    "this "
    "long (0: they wait for the page to resume)",
    "HOOKSTREAM_SENDER_STOPPED_PAGE_PROBE_S": "how often a stopped page (code 190 or 368) is "
    "probed",
    "HOOKSTREAM_SENDER_MAX_IN_FLIGHT": "commands read but not yet finished, at most",
    "HOOKSTREAM_SENDER_CONSUMER_GROUP": "the sender's consumer group",
    "HOOKSTREAM_SENDER_SESSION_TIMEOUT_S": "the sender's consumer session timeout",
    "HOOKSTREAM_SENDER_LEDGER_HORIZON_S": "how long the sender's ledger remembers a delivered "
    "command, so it is never sent twice (default 30 days); keep it at least the longest "
    "retention of `inbound`, `outbound` and `dlq`, and the `sender-ledger` topic's "
    "`retention.ms` at least as long",
    "HOOKSTREAM_SENDER_SANDBOX_TOKENS": "sandbox only: tokens it accepts besides the pages file's "
    "(`token` or `page_id:token`)",
    "HOOKSTREAM_SENDER_SANDBOX_FAULTS": "sandbox only: error injection rules (JSON list)",
    "HOOKSTREAM_SENDER_SANDBOX_REQUIRE_PROOF": "sandbox only: reject calls without "
    '`appsecret_proof`, like an app with "Require App Secret"',
    # sink
    "CLICKHOUSE_URL": "`http(s)://user:pass@host:8123/db` for a server, `chdb:///path` for the "
    "embedded engine",
    "HOOKSTREAM_SINK_BATCH_ROWS": "rows per ClickHouse insert, at most",
    "HOOKSTREAM_SINK_BATCH_AGE_S": "age of a batch before it is flushed anyway",
    "HOOKSTREAM_SINK_TTL_DAYS": "retention of the analytics tables (applied when they are created)",
    "HOOKSTREAM_SINK_QUERY_URL": "the running sink that `hookstream stats` asks (chDB is opened "
    "by one "
    "process at a time)",
    # ops
    "HOOKSTREAM_OPS_EXTRA_GROUPS": "consumer groups reported besides those committed on the "
    "pipeline's topics",
    "HOOKSTREAM_OPS_LAG_TOPICS": "topics (after the prefix) the lag exporter watches; empty: the "
    "pipeline's",
    "HOOKSTREAM_OPS_LAG_INTERVAL_S": "how often the lag exporter collects",
    "HOOKSTREAM_OPS_SENDER_URL": "the running sender whose `/metrics` `hookstream pages status` "
    "reads",
    "HOOKSTREAM_OPS_STATUS_WINDOW_S": "window of the OK/WARN/STALL/STOP status",
}


@dataclass(frozen=True)
class Variable:
    name: str
    field: str  # dotted path in Settings, e.g. "kafka.bootstrap_servers"
    kind: str
    default: Any
    allowed: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()  # former names still read into the same setting (deprecated)

    @property
    def section(self) -> str:
        return self.field.rpartition(".")[0]


class _Recording(dict[str, str]):
    """An environment mapping that notes every variable looked up, in order."""

    def __init__(self, values: Mapping[str, str], seen: list[str]) -> None:
        super().__init__(values)
        self.seen = seen

    def _note(self, key: object) -> None:
        if isinstance(key, str) and key not in self.seen:
            self.seen.append(key)

    def get(self, key: str, default: Any = None) -> Any:
        self._note(key)
        return super().get(key, default)

    def __getitem__(self, key: str) -> str:
        self._note(key)
        return super().__getitem__(key)

    def __contains__(self, key: object) -> bool:
        self._note(key)
        return super().__contains__(key)


@contextlib.contextmanager
def _neutral_directory() -> Iterator[None]:
    """Defaults that look at the working directory (`pages.yaml` if present) see an empty one."""
    with tempfile.TemporaryDirectory() as empty, contextlib.chdir(empty):
        yield


def _flatten(settings: Any, prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for f in dataclasses.fields(settings):
        value = getattr(settings, f.name)
        path = f"{prefix}{f.name}"
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            flat.update(_flatten(value, f"{path}."))
        else:
            flat[path] = value
    return flat


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """A probe of a former name would log its deprecation line; the probe only looks."""
    logger = env_module.log
    was, logger.disabled = logger.disabled, True
    try:
        yield
    finally:
        logger.disabled = was


def _settings(values: Mapping[str, str]) -> dict[str, Any]:
    with _neutral_directory(), _quiet():
        return _flatten(Settings.from_env(values))


_ALLOWED = re.compile(r"must be one of (?P<allowed>.+?), got")


def _probe(name: str, baseline: Mapping[str, Any]) -> tuple[str, str, tuple[str, ...]]:
    """The setting `name` fills, its kind and (for a choice) the allowed values."""
    errors = []
    for value in ("987654", "true", "false"):
        try:
            probed = _settings({name: value})
        except ConfigError as exc:
            errors.append(str(exc))
            continue
        changed = [path for path, v in probed.items() if v != baseline[path]]
        if len(changed) == 1:
            return changed[0], _kind_of(probed[changed[0]]), ()
        if len(changed) > 1:
            raise RuntimeError(f"{name} sets {', '.join(changed)}: expected one setting")
    match = next((m for e in errors if (m := _ALLOWED.search(e))), None)
    if match:
        allowed = tuple(a.strip() for a in match["allowed"].split(","))
        for value in allowed:
            probed = _settings({name: value})
            changed = [path for path, v in probed.items() if v != baseline[path]]
            if len(changed) == 1:
                return changed[0], "choice", allowed
    raise RuntimeError(f"{name} is read but no probe value changes a setting ({errors})")


def _kind_of(value: Any) -> str:
    """The kind of a setting, from the value a probe gave it."""
    default = value
    if isinstance(default, bool):
        return "flag"
    if isinstance(default, Secret):
        return "secret"
    if isinstance(default, int):
        return "integer"
    if isinstance(default, float):
        return "number"
    if isinstance(default, tuple):
        return "secrets" if any(isinstance(v, Secret) for v in default) else "csv"
    if isinstance(default, Path):
        return "path"
    return "string"


def variables() -> list[Variable]:
    """Every variable Settings.from_env reads, tied to the setting it fills."""
    seen: list[str] = []
    with _neutral_directory():
        baseline = _flatten(Settings.from_env(_Recording({}, seen)))
    by_field: dict[str, Variable] = {}
    for name in seen:
        path, kind, allowed = _probe(name, baseline)
        if path in by_field:
            first = by_field[path]
            by_field[path] = dataclasses.replace(first, aliases=(*first.aliases, name))
        else:
            by_field[path] = Variable(name, path, kind, baseline[path], allowed)
    return list(by_field.values())


_KINDS = {
    "string": "string",
    "path": "path",
    "integer": "integer",
    "number": "number",
    "flag": "`true`/`false`",
    "csv": "comma-separated",
    "secret": "secret",
    "secrets": "comma-separated secrets",
}


def _kind(variable: Variable) -> str:
    if variable.kind == "choice":
        return " \\| ".join(f"`{a}`" for a in variable.allowed)
    return _KINDS.get(variable.kind, variable.kind)


def _names(variable: Variable) -> str:
    names = f"`{variable.name}`"
    if variable.aliases:
        names += " (formerly " + ", ".join(f"`{a}`" for a in variable.aliases) + ")"
    return names


def _default(value: Any) -> str:
    if isinstance(value, Secret):
        return "—" if not value else "(set)"
    if value is None or value == () or value == "":
        return "—"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, tuple):
        return f"`{','.join(map(str, value))}`"
    if isinstance(value, float) and value.is_integer():
        return f"`{int(value)}`"
    return f"`{value}`"


def _comments(cls: type) -> dict[str, str]:
    """Field name -> the comment beside it or right above it in the dataclass's source."""
    try:
        source = inspect.getsource(cls)
    except (OSError, TypeError):
        return {}
    found: dict[str, str] = {}
    above: list[str] = []
    for line in source.splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            above.append(stripped.lstrip("#").strip())
            continue
        match = re.match(r"(\w+): [^=]+=[^#]*(?:#\s*(?P<beside>.*))?$", stripped)
        if match and line.startswith("    ") and not line.startswith("     "):
            text = match["beside"] or " ".join(above)
            if text:
                found[match.group(1)] = text
        above = []
    return found


def _source_meanings(settings: Any, prefix: str = "") -> dict[str, str]:
    meanings = {f"{prefix}{k}": v for k, v in _comments(type(settings)).items()}
    for f in dataclasses.fields(settings):
        value = getattr(settings, f.name)
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            meanings.update(_source_meanings(value, f"{prefix}{f.name}."))
    return meanings


MISSING_MEANING = (
    "(not described yet: add it to MEANINGS in hookstream/runtime/settings/reference.py)"
)


def meaning_of(variable: Variable, from_source: Mapping[str, str]) -> str:
    """MEANINGS first, else the comment at the field in the settings source."""
    if variable.name in MEANINGS:
        text = MEANINGS[variable.name]
    else:
        text = from_source.get(variable.field, MISSING_MEANING)
        text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text.replace("|", "\\|")


def render_configuration() -> str:
    found = variables()
    with _neutral_directory():
        from_source = _source_meanings(Settings.from_env({}))
    lines = [
        "# Configuration reference",
        "",
        "<!-- Generated by `python -m hookstream.runtime.settings.reference` from the Settings",
        "     object; do not edit by hand (a unit test fails when this page is stale). -->",
        "",
        "Every service reads its settings from environment variables once, at start; a `.env`",
        "file in the working directory is read too, and the environment wins over it. Secrets",
        "are held in a type that never prints. A missing required setting stops the service at",
        "start with one line naming it, e.g. `hookstream ingress: configuration error:",
        "HOOKSTREAM_APP_SECRETS is required: comma-separated Meta app secrets`.",
        "",
        "Under `make up` (`hookstream up`) the development values are: app secret",
        "`dev-app-secret`, verify token `dev-verify-token`, API key `dev-api-key`, the demo",
        "pages file `deploy/pages.example.yaml`, the embedded broker, idempotence off and",
        "`GRAPH_API_BASE_URL` pointing at the sandbox; whatever the environment sets wins.",
        "",
        "Names follow one rule (`hookstream/runtime/settings/rule.py`): the setting's field,",
        "upper-case, after its section's prefix: `HOOKSTREAM_<SECTION>_<FIELD>`",
        "(`HOOKSTREAM_SENDER_CONCURRENCY` is `sender.concurrency`), `HOOKSTREAM_<FIELD>` for the",
        "general settings and `KAFKA_<FIELD>` for the Kafka section. The exceptions are the",
        "public contract's names (`HOOKSTREAM_APP_SECRETS`, `HOOKSTREAM_VERIFY_TOKEN`,",
        "`HOOKSTREAM_API_KEY`, `HOOKSTREAM_TOPIC_PREFIX`, `CLICKHOUSE_URL`, `GRAPH_API_*`) and",
        'OpenTelemetry\'s own. A former name ("formerly" below) still works and logs one line',
        "at start naming the new one; when both are set, the new one wins and the line says so.",
        *[
            f"`{name}` is still accepted but has no effect ({why})."
            for name, why in RETIRED.items()
        ],
        "",
        f"{len(found)} variables. The setting column is the field of `Settings`",
        "(`hookstream/runtime/settings/`) the variable fills.",
    ]
    sections = dict(SECTIONS)
    for v in found:
        sections.setdefault(v.section, v.section.capitalize())
    for section, heading in sections.items():
        rows = [v for v in found if v.section == section]
        if not rows:
            continue
        lines += ["", f"## {heading}", ""]
        lines += [
            "| variable | setting | type | default | meaning |",
            "| --- | --- | --- | --- | --- |",
        ]
        lines += [
            f"| {_names(v)} | `{v.field}` | {_kind(v)} | {_default(v.default)} "
            f"| {meaning_of(v, from_source)} |"
            for v in rows
        ]
    lines += [
        "",
        "See also: [the pages file](pages-file.md), [services and ports](services.md).",
        "",
    ]
    return "\n".join(lines)


def render_services() -> str:
    lines = [
        "# Services and ports",
        "",
        "<!-- Generated by `python -m hookstream.runtime.settings.reference` from",
        "     hookstream/runtime/services_table.py; do not edit by hand. -->",
        "",
        "One image, one command per service: `hookstream <service> --host H --port P`. These are",
        "the default ports; the CLI, `hookstream up`, the deploy manifests and their tests read",
        "them from `hookstream/runtime/services_table.py`.",
        "",
        "| service | command | default port | what | serves | in the production manifests |",
        "| --- | --- | ---: | --- | --- | --- |",
    ]
    for s in SERVICES:
        serves = ", ".join(f"`{p}`" for p in s.paths)
        deployed = "yes" if s.deployed else "no"
        lines.append(
            f"| {s.name} | `hookstream {s.name}` | {s.port} | {s.what} | {serves} | {deployed} |"
        )
    lines += [
        "",
        f"Every service answers {', '.join(f'`{p}`' for p in STANDARD_PATHS)}: `/healthz` is 200",
        "while the process runs, `/readyz` is 200 once it can do its work (the ingress: while the",
        "broker answers) and 503 otherwise, `/metrics` is Prometheus text format.",
        "",
    ]
    return "\n".join(lines)


PAGES = {CONFIGURATION_PAGE: render_configuration, SERVICES_PAGE: render_services}


def stale() -> list[Path]:
    return [
        path
        for path, render in PAGES.items()
        if not path.is_file() or path.read_text(encoding="utf-8") != render()
    ]


def _shown(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="exit 1 if a page is stale")
    args = parser.parse_args(argv)
    if args.check:
        outdated = stale()
        for path in outdated:
            print(
                f"stale: {_shown(path)} (run python -m hookstream.runtime.settings.reference)",
                file=sys.stderr,
            )
        return 1 if outdated else 0
    for path, render in PAGES.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render(), encoding="utf-8")
        print(f"wrote {_shown(path)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
