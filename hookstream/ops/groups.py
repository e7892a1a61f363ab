"""Remove a finished consumer group (a replay or reprocess group): refuse one with members.

DeleteGroups removes the group's committed offsets, so it drops out of `hookstream lag` and the
lag exporter. Its replay bound is cleared too. Real Kafka refuses a group with members itself
(NON_EMPTY_GROUP); the embedded broker does not, so the member count is checked first. The
embedded broker also keeps a stopped member listed until another consumer joins the group:
with `probe`, a listed member is checked by joining the group once (which evicts members that
no longer heartbeat); a live member stays, and the group is refused.
"""

from __future__ import annotations

import asyncio
import contextlib

from aiokafka.errors import KafkaError, for_code
from aiokafka.protocol.admin import DeleteGroupsRequest

from hookstream.ops.collect import GroupInfo
from hookstream.ops.errors import GroupHasMembers, OpsError
from hookstream.ops.replay_apply import group_info, record_plan
from hookstream.runtime.kafka import PIPELINE_TOPICS, new_admin, new_consumer
from hookstream.runtime.replay_bound import load_plan
from hookstream.runtime.settings import KafkaSettings

EMPTY = frozenset({"Empty", "Dead", ""})
GROUP_ID_NOT_FOUND = 69


def members_refusal(info: GroupInfo) -> str:
    return (
        f"group {info.group} has {info.members} live member(s) (state {info.state}); "
        "refusing to delete it. Stop its consumers first (`hookstream lag` shows who), then retry."
    )


async def live_members_after_join(
    settings: KafkaSettings, group: str, timeout_s: float = 45.0
) -> int:
    """Join `group` once and count the members besides us once the join completed."""
    topic = settings.topic(PIPELINE_TOPICS[0].name)
    probe = new_consumer(
        settings,
        topic,
        group_id=group,
        request_timeout_ms=int(timeout_s * 1000),
        session_timeout_ms=6000,
        heartbeat_interval_ms=2000,
    )
    try:  # started inside: a failed start must still close the client
        await probe.start()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while not probe.assignment() and loop.time() < deadline:
            await probe.getmany(timeout_ms=200)
        info = await group_info(settings, group)
        return max(0, info.members - 1)
    finally:
        await probe.stop()


def stale_hint(info: GroupInfo) -> str:
    return (
        f" On the embedded broker a stopped consumer stays listed: if nothing consumes "
        f"{info.group} any more, `hookstream groups delete {info.group} --force`."
    )


async def delete_group(
    settings: KafkaSettings,
    group: str,
    probe: bool = False,
    members_stale: bool = False,
) -> bool:
    """Delete the group; True if it existed. Raises GroupHasMembers for a group in use.
    `members_stale`: the listed members are known to be gone (their process exited)."""
    info = await group_info(settings, group)
    if info.members > 0 and info.state not in EMPTY and not members_stale:
        if not probe:
            raise GroupHasMembers(members_refusal(info))
        try:
            live = await live_members_after_join(settings, group)
        except KafkaError as exc:  # e.g. a faust group: another assignment protocol
            raise GroupHasMembers(
                members_refusal(info) + f" (checking them by joining failed: "
                f"{type(exc).__name__}.)" + stale_hint(info)
            ) from exc
        if live > 0:
            raise GroupHasMembers(members_refusal(await group_info(settings, group)))
    admin = new_admin(settings)
    await admin.start()
    try:
        if group not in {name for name, _protocol in await admin.list_consumer_groups()}:
            return False  # the embedded broker answers "deleted" for any name
        node = await admin.find_coordinator(group)
        response = await admin._send_request_to_node(node, DeleteGroupsRequest([group]))
    finally:
        await admin.close()
    codes = [code for name, code in response.results if name == group]
    code = codes[0] if codes else 0
    if code == GROUP_ID_NOT_FOUND:
        return False
    if code:
        error = for_code(code)
        if error.__name__ == "GroupNotEmptyError":
            raise GroupHasMembers(members_refusal(await group_info(settings, group)))
        raise OpsError(f"deleting group {group} failed: {error.__name__}")
    with contextlib.suppress(KafkaError, OpsError):
        if await load_plan(settings, group) is not None:
            await record_plan(settings, None, group=group)
    return True
