"""librdkafka aborts the process (`eonce->refcnt > 0`, its issue #4605) when an admin
operation's own timeout fires while its requests are out. Every admin call of the bot
(the destructive actions above all) hands librdkafka op_timeout() (at least 60 s) and
bounds its own wait in Python: checked here over the code, and on the actions' helpers."""

from __future__ import annotations

import ast
import time
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest

from bot.actions import kafka_util
from bot.actions.base import ActionError
from bot.probes.clients import op_timeout

BOT = Path(__file__).resolve().parents[2] / "bot"
# The AdminClient methods that take a request_timeout or an operation_timeout.
ADMIN_OPS = {
    "list_offsets", "list_consumer_groups", "describe_consumer_groups", "list_consumer_group_offsets",
    "alter_consumer_group_offsets", "delete_consumer_groups", "describe_topics", "describe_cluster",
    "describe_configs", "alter_configs", "incremental_alter_configs", "create_topics", "delete_topics",
    "create_partitions", "delete_records", "elect_leaders", "describe_acls", "create_acls", "delete_acls",
    "describe_user_scram_credentials", "alter_user_scram_credentials", "list_topics_v2",
}
GUARDED = {"request_timeout", "operation_timeout"}


def _long_names(tree: ast.AST) -> set[str]:
    """Names assigned from op_timeout(...) anywhere in the module."""
    return {t.id for node in ast.walk(tree) if isinstance(node, ast.Assign) and _is_op_timeout(node.value)
            for t in node.targets if isinstance(t, ast.Name)}


def _is_op_timeout(node: ast.AST) -> bool:
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "op_timeout"


def unguarded(source: str) -> list[tuple[int, str, str]]:
    """(line, method, keyword) of admin calls handing librdkafka a timeout not from op_timeout()."""
    tree = ast.parse(source)
    long = _long_names(tree)
    found = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in ADMIN_OPS):
            continue
        for kw in node.keywords:
            if kw.arg in GUARDED and not (_is_op_timeout(kw.value)
                                          or (isinstance(kw.value, ast.Name) and kw.value.id in long)):
                found.append((node.lineno, node.func.attr, kw.arg))
    return found


@pytest.mark.parametrize("source, expected", [
    ("admin.delete_records(w, request_timeout=timeout, operation_timeout=timeout)",
     [(1, "delete_records", "request_timeout"), (1, "delete_records", "operation_timeout")]),
    ("admin.create_partitions(p, operation_timeout=op_timeout(t), request_timeout=op_timeout(t))", []),
    ("long = op_timeout(t)\nadmin.elect_leaders(x, y, request_timeout=long, operation_timeout=long)", []),
    ("admin.alter_consumer_group_offsets(r, request_timeout=5.0)", [(1, "alter_consumer_group_offsets",
                                                                     "request_timeout")]),
    ("admin.list_topics(timeout=3)", []),  # a metadata request, not an admin operation
], ids=["short", "op_timeout", "named", "literal", "metadata"])
def test_the_scan_tells_guarded_calls_from_short_ones(source: str, expected: list[tuple[int, str, str]]) -> None:
    assert unguarded(source) == expected


def test_no_admin_call_in_the_bot_gives_librdkafka_a_short_timeout() -> None:
    found = {f"{path.relative_to(BOT.parent)}:{line} {method}({kw}=…)"
             for path in sorted(BOT.rglob("*.py")) for line, method, kw in unguarded(path.read_text())}
    assert found == set(), "hand librdkafka op_timeout(...) and bound the wait in Python (librdkafka #4605)"


def test_the_actions_cover_their_admin_calls() -> None:
    """The scan would see nothing if the actions called the admin client some other way."""
    calls = [node.func.attr for path in sorted((BOT / "actions").glob("*.py"))
             for node in ast.walk(ast.parse(path.read_text()))
             if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in ADMIN_OPS]
    assert {"delete_records", "create_partitions", "elect_leaders", "alter_consumer_group_offsets",
            "delete_topics", "create_topics", "list_offsets"} <= set(calls)


class HangingAdmin:
    """An admin client whose operations never answer; it records what librdkafka was given."""

    def __init__(self) -> None:
        self.kwargs: list[dict[str, Any]] = []

    def list_offsets(self, request: dict[Any, Any], **kwargs: Any) -> dict[Any, Future[Any]]:
        self.kwargs.append(kwargs)
        return {tp: Future() for tp in request}

    def list_consumer_group_offsets(self, request: list[Any], **kwargs: Any) -> dict[str, Future[Any]]:
        self.kwargs.append(kwargs)
        return {r.group_id: Future() for r in request}


@pytest.mark.parametrize("call", [
    lambda admin: kafka_util.log_bounds(admin, [("orders", 0)], 0.3),
    lambda admin: kafka_util.offsets_for_time(admin, [("orders", 0)], 0, 0.3),
    lambda admin: kafka_util.committed_offsets(admin, "billing", 0.3),
], ids=["log_bounds", "offsets_for_time", "committed_offsets"])
def test_an_action_helper_gives_librdkafka_a_minute_and_gives_up_itself_in_time(call: Any) -> None:
    admin = HangingAdmin()
    started = time.monotonic()
    with pytest.raises(ActionError, match="got no answer within"):
        call(admin)
    assert time.monotonic() - started < 3  # the bot's own timeout (0.3 s, plus a second), not librdkafka's
    assert admin.kwargs and all(k["request_timeout"] == op_timeout(0.3) >= 60 for k in admin.kwargs)
