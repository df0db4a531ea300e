"""What people type after a slash command, parsed: the shared flag parser
(commands/args.py) with the real commands' argument models, the offset reset and DLQ
replay specs, and the part every destructive command shares (commands/destructive.py).
Bad input is a sentence that says how to write it."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from pydantic import BaseModel

from bot import db
from bot.actions import purge
from bot.actions.base import Plan
from bot.actions.replay_spec import ReplaySpec, parse_replay_spec
from bot.actions.reset_spec import (
    ResetSpec,
    SpecError,
    TopicSelection,
    format_duration,
    parse_duration,
    parse_reset_spec,
)
from bot.config import load
from commands import args, destructive
from commands.base import Deferred, Invocation, UsageError
from commands.dlq import USAGE as DLQ_USAGE
from commands.dlq import DlqArgs
from commands.incident import OPEN_USAGE, OpenArgs
from commands.lag import USAGE as LAG_USAGE
from commands.lag import LagArgs

# ---------------------------------------------------------------- commands/args.py

LAG = {"model": LagArgs, "positional": ["group", "topic"], "usage": LAG_USAGE}
DLQ = {"model": DlqArgs, "positional": ["name"], "usage": DLQ_USAGE}
OPEN = {"model": OpenArgs, "positional": [], "rest": "title", "usage": OPEN_USAGE}

PARSED: list[tuple[str, str, dict[str, Any], dict[str, Any]]] = [
    ("nothing", "", LAG, {"group": None, "topic": None, "cluster": None, "chart": False}),
    ("positional words in order", "billing orders", LAG, {"group": "billing", "topic": "orders"}),
    ("a flag with its value", "billing --cluster prod", LAG, {"group": "billing", "cluster": "prod"}),
    ("a flag before the words", "--cluster prod billing orders", LAG,
     {"group": "billing", "topic": "orders", "cluster": "prod"}),
    ("--flag=value", "--cluster=prod", LAG, {"cluster": "prod"}),
    ("a switch", "billing --chart", LAG, {"group": "billing", "chart": True}),
    ("quotes keep spaces", "'billing group' orders", LAG, {"group": "billing group", "topic": "orders"}),
    ("a number", "orders.dlq --sample 20", DLQ, {"name": "orders.dlq", "sample": 20}),
    ("limits are inclusive", "--sample 100", DLQ, {"sample": 100}),
    ("the rest is the title", "Orders lag again --severity critical --group billing", OPEN,
     {"title": "Orders lag again", "severity": "critical", "group": "billing"}),
    ("quoted words join the title", "'Orders lag' on prod", OPEN, {"title": "Orders lag on prod"}),
]


@pytest.mark.parametrize(("text", "spec", "expected"), [c[1:] for c in PARSED], ids=[c[0] for c in PARSED])
def test_parse(text: str, spec: dict[str, Any], expected: dict[str, Any]) -> None:
    parsed: BaseModel = args.parse(text, **spec)
    dumped = parsed.model_dump(mode="json")
    assert {k: dumped[k] for k in expected} == expected


REFUSED: list[tuple[str, str, dict[str, Any], str]] = [
    ("too many words", "billing orders extra", LAG, f"Too many arguments: `extra`. Usage: `{LAG_USAGE}`"),
    ("unknown option lists the real ones", "--colour red", LAG,
     f"Unknown option `--colour`. Options: --group, --topic, --cluster, --chart. Usage: `{LAG_USAGE}`"),
    ("the rest field is not an option either", "--title Foo", OPEN,
     "Unknown option `--title`. Options: --severity, --runbook, --group, --topic, --queue, --cluster. "
     f"Usage: `{OPEN_USAGE}`"),
    ("a flag without its value", "billing --cluster", LAG, f"`--cluster` needs a value. Usage: `{LAG_USAGE}`"),
    ("unclosed quote", "billing 'orders", LAG,
     "I could not read that: No closing quotation. Close your quotes and try again."),
    ("below the minimum", "--sample 0", DLQ,
     f"`--sample`: Input should be greater than or equal to 1. Usage: `{DLQ_USAGE}`"),
    ("above the maximum", "--sample 101", DLQ,
     f"`--sample`: Input should be less than or equal to 100. Usage: `{DLQ_USAGE}`"),
    ("not a number", "--sample many", DLQ,
     f"`--sample`: Input should be a valid integer, unable to parse string as an integer. Usage: `{DLQ_USAGE}`"),
    ("not a choice", "Orders lag --severity high", OPEN,
     f"`--severity`: Input should be 'critical', 'warning' or 'info'. Usage: `{OPEN_USAGE}`"),
    ("a title too short names the field", "ab", OPEN,
     f"`title`: String should have at least 3 characters. Usage: `{OPEN_USAGE}`"),
    ("no title", "--severity critical", OPEN, f"`title`: Field required. Usage: `{OPEN_USAGE}`"),
]


@pytest.mark.parametrize(("text", "spec", "message"), [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED])
def test_parse_refuses_with_a_sentence(text: str, spec: dict[str, Any], message: str) -> None:
    with pytest.raises(UsageError) as refused:
        args.parse(text, **spec)
    assert str(refused.value) == message


@pytest.mark.parametrize(("name", "known", "message"), [
    ("biling", ["billing", "billing-v2", "orders"], "No consumer group named `biling`. Did you mean `billing`, "
                                                    "`billing-v2`?"),
    ("zzz", ["billing"], "No consumer group named `zzz`."),
], ids=["close-names", "nothing-close"])
def test_not_found_suggests_close_names(name: str, known: list[str], message: str) -> None:
    assert str(args.not_found("consumer group", name, known)) == message


# ---------------------------------------------------------------- offset reset spec

ORDERS = [TopicSelection(topic="orders")]
RESETS: list[tuple[str, str, ResetSpec, str]] = [
    ("to earliest", "billing --topic orders --to-earliest",
     ResetSpec(group="billing", topics=ORDERS, strategy="to-earliest"), "billing --topic orders --to-earliest"),
    ("partitions sorted and deduplicated, several topics", "billing --topic orders:2,0,1,2 --topic pay --to-latest",
     ResetSpec(group="billing", topics=[TopicSelection(topic="orders", partitions=[0, 1, 2]),
                                        TopicSelection(topic="pay")], strategy="to-latest"),
     "billing --topic orders:0,1,2 --topic pay --to-latest"),
    ("all topics, shift back", "billing --all-topics --shift-by -100",
     ResetSpec(group="billing", all_topics=True, strategy="shift-by", shift_by=-100),
     "billing --all-topics --shift-by -100"),
    ("to offset 0", "billing --all-topics --to-offset 0",
     ResetSpec(group="billing", all_topics=True, strategy="to-offset", to_offset=0),
     "billing --all-topics --to-offset 0"),
    ("datetime in UTC", "billing --all-topics --to-datetime 2024-01-01T00:00:00Z",
     ResetSpec(group="billing", all_topics=True, strategy="to-datetime", to_datetime=datetime(2024, 1, 1, tzinfo=UTC)),
     "billing --all-topics --to-datetime 2024-01-01T00:00:00+00:00"),
    ("datetime without a zone is UTC", "billing --all-topics --to-datetime 2024-01-01T09:30:00",
     ResetSpec(group="billing", all_topics=True, strategy="to-datetime",
               to_datetime=datetime(2024, 1, 1, 9, 30, tzinfo=UTC)),
     "billing --all-topics --to-datetime 2024-01-01T09:30:00+00:00"),
    ("datetime keeps its zone", "billing --all-topics --to-datetime 2024-01-01T09:30:00+02:00",
     ResetSpec(group="billing", all_topics=True, strategy="to-datetime",
               to_datetime=datetime(2024, 1, 1, 9, 30, tzinfo=timezone(timedelta(hours=2)))),
     "billing --all-topics --to-datetime 2024-01-01T09:30:00+02:00"),
    ("duration", "billing --all-topics --by-duration P1DT2H30M",
     ResetSpec(group="billing", all_topics=True, strategy="by-duration", by_duration_s=95_400.0),
     "billing --all-topics --by-duration P1DT2H30M"),
    ("--group and --flag=value", "--group billing --topic=orders --to-offset=5",
     ResetSpec(group="billing", topics=ORDERS, strategy="to-offset", to_offset=5),
     "billing --topic orders --to-offset 5"),
    ("Kafka's --execute is accepted and ignored", "billing --topic orders --to-earliest --execute",
     ResetSpec(group="billing", topics=ORDERS, strategy="to-earliest"), "billing --topic orders --to-earliest"),
    ("Kafka's --dry-run too: approval decides", "billing --topic orders --to-earliest --dry-run",
     ResetSpec(group="billing", topics=ORDERS, strategy="to-earliest"), "billing --topic orders --to-earliest"),
]


@pytest.mark.parametrize(("text", "spec", "written"), [c[1:] for c in RESETS], ids=[c[0] for c in RESETS])
def test_reset_spec(text: str, spec: ResetSpec, written: str) -> None:
    parsed = parse_reset_spec(text)
    assert parsed == spec
    assert parsed.text == written
    assert parse_reset_spec(parsed.text) == parsed  # what the card shows parses back to the same reset


USAGE_TAIL = (" Usage: <group> --topic T[:p,p] | --all-topics  and one of  --to-earliest | --to-latest | "
              "--to-datetime 2024-01-01T00:00:00Z | --by-duration P1DT2H | --shift-by -100 | --to-offset 42")
ONE_OF = "Give exactly one of --to-earliest, --to-latest, --to-datetime, --by-duration, --shift-by, --to-offset"
RESET_REFUSED: list[tuple[str, str, str]] = [
    ("no group", "--topic orders --to-earliest", "Name the consumer group first." + USAGE_TAIL),
    ("two groups", "billing other --topic orders --to-earliest",
     "Unexpected `other`: name the group once." + USAGE_TAIL),
    ("no topic", "billing --to-earliest", "Give either --topic (once or more) or --all-topics." + USAGE_TAIL),
    ("topic and all topics", "billing --topic orders --all-topics --to-earliest",
     "Give either --topic (once or more) or --all-topics." + USAGE_TAIL),
    ("no strategy", "billing --topic orders", f"{ONE_OF} (got none)."),
    ("two strategies", "billing --topic orders --to-earliest --to-latest",
     f"{ONE_OF} (got --to-earliest, --to-latest)."),
    ("unknown option", "billing --topic orders --to-earliest --force", "Unknown option `--force`." + USAGE_TAIL),
    ("a value missing", "billing --topic orders --shift-by", "`--shift-by` needs a value." + USAGE_TAIL),
    ("shift not a number", "billing --topic orders --shift-by ten", "`--shift-by` needs a whole number, not `ten`."),
    ("negative offset", "billing --all-topics --to-offset -1", "`--to-offset` must be 0 or more."),
    ("not a date", "billing --all-topics --to-datetime yesterday",
     "`yesterday` is not an ISO-8601 date and time; write it like 2024-01-01T09:30:00Z."),
    ("not a duration", "billing --all-topics --by-duration 15m",
     "`15m` is not an ISO-8601 duration; write it like P1DT2H30M or PT15M."),
    ("an empty duration", "billing --all-topics --by-duration PT",
     "`PT` is not an ISO-8601 duration; write it like P1DT2H30M or PT15M."),
    ("not a topic name", "billing --topic 'bad topic' --to-earliest", "`bad topic` is not a Kafka topic name."),
    ("a colon and no partitions", "billing --topic orders: --to-earliest",
     "`orders:`: list the partitions after the colon, like orders:0,1,2."),
    ("partitions not numbers", "billing --topic orders:a --to-earliest",
     "`orders:a`: partitions must be numbers separated by commas, like orders:0,1,2."),
    ("unclosed quote", "billing 'unclosed", "I could not read that: No closing quotation." + USAGE_TAIL),
]


@pytest.mark.parametrize(("text", "message"), [c[1:] for c in RESET_REFUSED], ids=[c[0] for c in RESET_REFUSED])
def test_reset_spec_refuses_with_a_sentence(text: str, message: str) -> None:
    with pytest.raises(SpecError) as refused:
        parse_reset_spec(text)
    assert str(refused.value) == message


@pytest.mark.parametrize(("text", "seconds", "written"), [
    ("PT15M", 900.0, "PT15M"), ("P1D", 86_400.0, "P1D"), ("P1DT2H30M", 95_400.0, "P1DT2H30M"),
    ("PT0.5S", 0.5, "PT0.5S"), ("pt1h", 3_600.0, "PT1H"), ("PT90M", 5_400.0, "PT1H30M"), ("PT0S", 0.0, "PT0S"),
], ids=["minutes", "a-day", "mixed", "fraction", "lower-case", "normalised", "zero"])
def test_durations_as_javas_duration_reads_them(text: str, seconds: float, written: str) -> None:
    assert parse_duration(text) == seconds
    assert format_duration(seconds) == written


# ---------------------------------------------------------------- DLQ replay spec

REPLAYS: list[tuple[str, str, ReplaySpec]] = [
    ("just the DLQ", "orders.dlq", ReplaySpec(dlq="orders.dlq")),
    ("every option", "orders.dlq --to orders --limit 10 --pattern 'card declined' --broker kafka",
     ReplaySpec(dlq="orders.dlq", to="orders", limit=10, pattern="card declined", broker="kafka")),
    ("--flag=value", "orders.dlq --limit=5", ReplaySpec(dlq="orders.dlq", limit=5)),
    ("rabbit route by exchange", "orders.dlq --broker rabbitmq --route exchange",
     ReplaySpec(dlq="orders.dlq", broker="rabbitmq", route="exchange")),
]


@pytest.mark.parametrize(("text", "spec"), [c[1:] for c in REPLAYS], ids=[c[0] for c in REPLAYS])
def test_replay_spec(text: str, spec: ReplaySpec) -> None:
    assert parse_replay_spec(text) == spec


REPLAY_USAGE = (" Usage: <dlq> [--to <topic-or-exchange>] [--limit N] [--pattern <error-pattern>] "
                "[--broker kafka|rabbitmq]")
REPLAY_REFUSED: list[tuple[str, str, str]] = [
    ("no DLQ", "", "Name exactly one DLQ." + REPLAY_USAGE),
    ("two DLQs", "a.dlq b.dlq", "Name exactly one DLQ." + REPLAY_USAGE),
    ("limit 0", "orders.dlq --limit 0", "`--limit` must be 1 or more."),
    ("limit not a number", "orders.dlq --limit ten", "`--limit` needs a whole number."),
    ("limit without a value", "orders.dlq --limit", "`--limit` needs a value." + REPLAY_USAGE),
    ("unknown broker", "orders.dlq --broker pulsar", "`--broker` is kafka or rabbitmq."),
    ("unknown route", "orders.dlq --route topic",
     "`--route` is queue (back to the queue it died in) or exchange (to its original exchange)."),
    ("unknown option", "orders.dlq --force yes", "Unknown option `--force`." + REPLAY_USAGE),
    ("unclosed quote", "orders.dlq --pattern 'card", "I could not read that: No closing quotation." + REPLAY_USAGE),
]


@pytest.mark.parametrize(("text", "message"), [c[1:] for c in REPLAY_REFUSED], ids=[c[0] for c in REPLAY_REFUSED])
def test_replay_spec_refuses_with_a_sentence(text: str, message: str) -> None:
    with pytest.raises(SpecError) as refused:
        parse_replay_spec(text)
    assert str(refused.value) == message


# ---------------------------------------------------------------- commands/destructive.py

@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Any]:
    """A SQLite file (no database server) with the bot's tables, and no incident in it."""
    e = db.create(f"sqlite:///{tmp_path / 'unit.db'}")
    db.migrate(e)
    yield e
    db.dispose(e)


def never_planned(*_: object) -> Plan:
    raise AssertionError("a refused command must not plan")


UNPLANNED = dataclasses.replace(purge.ACTION, plan=never_planned)
REQUESTS: list[tuple[str, str, dict[str, Any], str | None]] = [
    ("no words: usage", "", {}, "Usage: `/purge-dlq <dlq>`"),
    ("outside an incident", "orders.dlq", {},
     "Destructive actions belong to an incident: run this in the incident's thread, or add `--incident INC-…`."),
    ("an incident that does not exist", "orders.dlq --incident inc-2026-0042", {},
     "There is no incident INC-2026-0042."),
    ("an unknown cluster", "orders.dlq --cluster prod", {"approvals": {"require_incident": False}},
     "No Kafka cluster named `prod`. Configured: local."),
    ("switched off for the cluster", "orders.dlq", {"approvals": {"require_incident": False,
                                                                  "disabled": {"local": ["purge_dlq"]}}},
     "`purge-dlq` is switched off for cluster `local` by the configuration."),
    ("no reason", "orders.dlq", {"approvals": {"require_incident": False}},
     'This request has no reason. Every destructive request says why, for the approvers and the audit trail: add '
     '`--reason "…"`, for example `/purge-dlq orders.dlq --reason "consumer fixed in 2.4.1"`. Usage: `/purge-dlq <dlq>`'),
    ("an empty reason", 'orders.dlq --reason " "', {"approvals": {"require_incident": False}},
     'This request has no reason. Every destructive request says why, for the approvers and the audit trail: add '
     '`--reason "…"`, for example `/purge-dlq orders.dlq --reason "consumer fixed in 2.4.1"`. Usage: `/purge-dlq <dlq>`'),
    ("a reason too short to say anything", "orders.dlq --reason ok", {"approvals": {"require_incident": False}},
     'This request has too short a reason (`ok`). Every destructive request says why, for the approvers and the audit '
     'trail: add `--reason "…"`, for example `/purge-dlq orders.dlq --reason "consumer fixed in 2.4.1"`. '
     'Usage: `/purge-dlq <dlq>`'),
    ("--reason without its text", "orders.dlq --reason", {"approvals": {"require_incident": False}},
     "`--reason` needs a value. Usage: `/purge-dlq <dlq>`"),
    ("allowed: planned after the acknowledgement", 'orders.dlq --reason "all 12 investigated: test data"',
     {"approvals": {"require_incident": False}}, None),
    ("the reason may come first", '--reason="poison pills, ticket OPS-12" orders.dlq',
     {"approvals": {"require_incident": False}}, None),
]


@pytest.mark.parametrize(("text", "settings", "refusal"), [c[1:] for c in REQUESTS], ids=[c[0] for c in REQUESTS])
def test_destructive_request(engine: Any, text: str, settings: dict[str, Any], refusal: str | None) -> None:
    ctx = SimpleNamespace(settings=load(database_url="sqlite:///unused.db", **settings), engine=engine)
    inv = Invocation(command="purge-dlq", text=text, user_id="U0ALICE", channel_id="C0INCIDENTS")
    if refusal is not None:
        with pytest.raises(UsageError) as refused:
            destructive.request(inv, ctx, UNPLANNED, "/purge-dlq <dlq>")  # type: ignore[arg-type]
        assert str(refused.value) == refusal
    else:
        deferred = destructive.request(inv, ctx, UNPLANNED, "/purge-dlq <dlq>")  # type: ignore[arg-type]
        assert isinstance(deferred, Deferred) and deferred.ack is not None
        assert deferred.ack.text == "Planning a dry run…"
