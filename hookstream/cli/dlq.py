"""`hookstream dlq`: list, show and redrive dead letters.

hookstream dlq list [--reason R] [--page P] [--service S] [--since T] [--until T] [--json]
hookstream dlq show ID
hookstream dlq redrive (ID ... | --reason R | --page P | ... | --all) [--dry-run]

A redriven record carries its dead letter's trace context (`traceparent`). A letter whose
original was truncated is refused with where the whole record is; the others selected with it
are redriven, and the exit status is 1.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict

import orjson

from hookstream.cli._common import run_ops
from hookstream.ops.dlq_records import (
    LIST_HEADERS,
    Selection,
    describe,
    list_rows,
    plan_redrive,
    refusal,
    select,
)
from hookstream.ops.dlq_topic import dead_letters, redrive, redriven_ids, unknown_ids
from hookstream.ops.errors import OpsError
from hookstream.ops.replay_plan import parse_position
from hookstream.ops.table import render_table
from hookstream.runtime.settings import KafkaSettings, Settings


def add_filters(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--reason", default="", help="only this reason (e.g. invalid_envelope)")
    parser.add_argument("--page", default="", help="only this page id")
    parser.add_argument("--service", default="", help="only from this service")
    parser.add_argument("--since", help="failed at or after this ISO 8601 time")
    parser.add_argument("--until", help="failed before this ISO 8601 time")


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser("dlq", help="list / inspect / redrive dead letters")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="dead letters, filtered")
    add_filters(listing)
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    show = actions.add_parser("show", help="one dead letter with its original record")
    show.add_argument("id", help="dead_letter_id (as `dlq list` prints it)")
    again = actions.add_parser("redrive", help="send selected records back to their source, once")
    again.add_argument("ids", nargs="*", help="dead_letter_ids")
    add_filters(again)
    again.add_argument("--all", action="store_true", help="every dead letter not yet redriven")
    again.add_argument("--dry-run", action="store_true", help="print what would be redriven")
    parser.set_defaults(run=run)


def at_ms(text: str | None) -> int | None:
    if not text:
        return None
    position = parse_position(text)
    if position.at_ms is None:
        raise OpsError(f"{text!r} is not an ISO 8601 time")
    return position.at_ms


def selection(args: argparse.Namespace) -> Selection:
    return Selection(
        tuple(getattr(args, "ids", ()) or ()),
        args.reason,
        args.page,
        args.service,
        at_ms(args.since),
        at_ms(args.until),
    )


async def list_letters(args: argparse.Namespace, kafka: KafkaSettings) -> int:
    letters, bad = await dead_letters(kafka)
    chosen = select(letters, selection(args))
    done = await redriven_ids(kafka)
    if args.json:
        for letter in chosen:
            row = {**asdict(letter), "redriven": letter.dead_letter_id in done}
            sys.stdout.buffer.write(orjson.dumps(row) + b"\n")
        return 0
    print(render_table(list_rows(chosen, done), LIST_HEADERS) if chosen else "no dead letters")
    print(
        f"{len(chosen)} of {len(letters)} dead letter(s)"
        + (f"; {bad} record(s) on the dlq topic could not be decoded" if bad else "")
    )
    return 0


async def show_letter(args: argparse.Namespace, kafka: KafkaSettings) -> int:
    letters, _ = await dead_letters(kafka)
    found = [letter for letter in letters if letter.dead_letter_id == args.id]
    if not found:
        raise OpsError(f"no dead letter {args.id}")
    print(describe(found[-1], args.id in await redriven_ids(kafka)))
    return 0


async def redrive_letters(args: argparse.Namespace, settings: Settings) -> int:
    kafka = settings.kafka
    chosen_by = selection(args)
    if chosen_by.empty and not args.all:
        raise OpsError("select dead letters to redrive: ids, a filter, or --all")
    letters, _ = await dead_letters(kafka)
    missing = unknown_ids(chosen_by.ids, letters)
    if missing:
        raise OpsError(f"no dead letter {', '.join(missing)}")
    plan = plan_redrive(select(letters, chosen_by), await redriven_ids(kafka))
    for letter in plan.already:
        print(f"skip {letter.dead_letter_id}: already redriven")
    for letter in plan.refused:
        print(f"refused: {refusal(letter)}", file=sys.stderr)
    refused = 1 if plan.refused else 0
    if args.dry_run:
        for letter in plan.send:
            print(f"would redrive {letter.dead_letter_id} -> {letter.source_topic}")
        return 0
    if not plan.send:
        print(
            f"nothing to redrive: {len(plan.already)} selected already redriven"
            + (f", {len(plan.refused)} refused (original truncated)" if plan.refused else "")
        )
        return refused
    sent = await redrive(kafka, plan, settings.state_dir)
    print(
        f"redrove {sent} record(s); skipped {len(plan.already)} already redriven"
        + (f"; refused {len(plan.refused)} (original truncated)" if plan.refused else "")
    )
    return refused


def run(args: argparse.Namespace, settings: Settings) -> int:
    if args.action == "redrive":
        return run_ops("dlq", redrive_letters(args, settings))
    action = list_letters if args.action == "list" else show_letter
    return run_ops("dlq", action(args, settings.kafka))
