"""`hookstream simulate`: signed synthetic webhook traffic against an ingress."""

from __future__ import annotations

import argparse
import asyncio

import orjson

from hookstream.embedded.stack import DEV_DEFAULTS
from hookstream.runtime.services_table import port_of
from hookstream.runtime.settings import Settings
from hookstream.simulate.runner import run_load
from hookstream.simulate.traffic import TrafficModel


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser("simulate", help="send signed synthetic webhook traffic")
    parser.add_argument("--url", default=f"http://127.0.0.1:{port_of('ingress')}/webhook")
    parser.add_argument("--rate", type=float, default=100.0, help="requests per second")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds")
    parser.add_argument("--pages", type=int, default=10)
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--duplicates", type=float, default=0.02, help="share of redeliveries")
    parser.add_argument("--concurrency", type=int, default=64, help="requests in flight at most")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", action="store_true", help="print the summary as JSON only")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    secrets = settings.ingress.app_secrets
    secret = secrets[0].reveal() if secrets else DEV_DEFAULTS["HOOKSTREAM_APP_SECRETS"]
    model = TrafficModel(
        pages=args.pages, users=args.users, duplicate_rate=args.duplicates, seed=args.seed
    )
    result = asyncio.run(
        run_load(
            args.url,
            secret,
            model,
            args.rate,
            args.duration,
            args.concurrency,
            progress=not args.json,
        )
    )
    summary = result.summary()
    if args.json:
        print(orjson.dumps(summary).decode())
    else:
        latency = summary.pop("latency_ms")
        for key, value in summary.items():
            print(f"{key:>16}: {value}")
        print(f"{'latency':>16}: " + ", ".join(f"{k} {v} ms" for k, v in latency.items()))
    return 0 if summary["sent"] == summary["accepted"] else 1
