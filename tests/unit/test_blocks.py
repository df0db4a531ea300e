"""Block Kit as people see it: Slack's limits (3,000 characters a section, 150 a
header, 50 blocks a message) kept by the builders, outside text escaped, summaries as
tables with "+N more", and the incident parent and approval card built from real
domain objects: the text on them and the action ids of their buttons."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

import pytest

from bot.actions.base import Plan, Refusal, Row
from bot.approvals.store import Request
from bot.health.verdict import Level, Verdict
from bot.incidents.model import Incident, Severity, Status, Subject
from bot.incidents.text import headline as parent_text
from bot.incidents.text import incident_line
from bot.reports.report import Report, Table, format_table, to_text
from bot.runbooks import load_all
from bot.slack import blocks
from bot.slack.ids import Action
from bot.slack.render_approval import card, card_text
from bot.slack.render_incident import parent
from bot.slack.report_blocks import to_blocks

Block = dict[str, Any]
T0 = 1_800_000_000.0  # 2027-01-15 08:00:00 UTC
TAKEN = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
RUNBOOKS = load_all()


def texts(out: list[Block]) -> list[str]:
    """Every piece of text a person can read in these blocks, in order."""
    found: list[str] = []
    for b in out:
        if "text" in b:
            found.append(b["text"]["text"])
        found += [f["text"] for f in b.get("fields", [])]
        found += [e["text"] if isinstance(e["text"], str) else e["text"]["text"]
                  for e in b.get("elements", []) if "text" in e]
    return found


def buttons(out: list[Block]) -> list[tuple[str, str, str]]:
    """(label, action_id, value) of every button."""
    return [(e["text"]["text"], e["action_id"], e["value"])
            for b in out if b["type"] == "actions" for e in b["elements"] if e["type"] == "button"]


# ---------------------------------------------------------------- bot/slack/blocks.py

@pytest.mark.parametrize(("text", "limit", "shown"), [
    ("abc", 3, "abc"), ("abcd", 3, "ab…"), ("", 3, ""), ("x" * 3000, 3000, "x" * 3000),
    ("x" * 3001, 3000, "x" * 2999 + "…"),
], ids=["fits", "one-over", "empty", "at-the-section-limit", "over-the-section-limit"])
def test_clip(text: str, limit: int, shown: str) -> None:
    assert blocks.clip(text, limit) == shown


LIMITS: list[tuple[str, Block, int]] = [
    ("header at 150", blocks.header("h" * 150), 150),
    ("header over 150 clipped", blocks.header("h" * 400), 150),
    ("section at 3000", blocks.section("s" * 3000), 3000),
    ("section over 3000 clipped", blocks.section("s" * 5000), 3000),
]


@pytest.mark.parametrize(("block", "length"), [c[1:] for c in LIMITS], ids=[c[0] for c in LIMITS])
def test_text_limits(block: Block, length: int) -> None:
    assert len(block["text"]["text"]) == length


def test_header_is_plain_text() -> None:
    assert blocks.header("INC-1 · <lag>") == {"type": "header", "text": {"type": "plain_text",
                                                                         "text": "INC-1 · <lag>", "emoji": True}}


@pytest.mark.parametrize(("lines", "expected_sections"), [
    (["short"], 1),
    ([f"line {i:03d} " + "x" * 50 for i in range(50)], 1),     # 2,999 characters: one section
    ([f"line {i:03d} " + "x" * 50 for i in range(51)], 2),     # 3,059: a second one
    ([f"line {i:03d} " + "x" * 50 for i in range(120)], 3),
], ids=["one-line", "just-fits", "just-over", "many"])
def test_sections_cut_long_text_at_line_ends(lines: list[str], expected_sections: int) -> None:
    text = "\n".join(lines)
    out = blocks.sections(text)
    assert len(out) == expected_sections
    assert all(len(b["text"]["text"]) <= blocks.SECTION_LIMIT for b in out)
    assert "\n".join(b["text"]["text"] for b in out) == text  # no line split, nothing lost


def test_a_single_line_longer_than_a_section_is_clipped() -> None:
    [only] = blocks.sections("y" * 4000)
    assert only["text"]["text"] == "y" * 2999 + "…"


def test_context_takes_ten_elements_at_most() -> None:
    out = blocks.context(*(f"e{i}" for i in range(12)))
    assert [e["text"] for e in out["elements"]] == [f"e{i}" for i in range(10)]


@pytest.mark.parametrize(("raw", "shown"), [
    ("<!channel> look", "&lt;!channel&gt; look"),
    ("<@U0ALICE>", "&lt;@U0ALICE&gt;"),
    ("<https://evil.example|click>", "&lt;https://evil.example|click&gt;"),
    ("AT&T", "AT&amp;T"),
    ("&lt; already", "&amp;lt; already"),  # shown verbatim, as typed
    ("lag > 10,000 *bold* `code`", "lag &gt; 10,000 *bold* `code`"),
], ids=["broadcast", "mention", "link", "ampersand", "entity-typed-by-someone", "formatting-kept"])
def test_escape(raw: str, shown: str) -> None:
    assert blocks.escape(raw) == shown


@pytest.mark.parametrize(("count", "kept", "note_last"), [
    (49, 49, False), (50, 50, False), (51, 50, True), (200, 50, True),
], ids=["under", "at-50", "one-over", "far-over"])
def test_limit_blocks(count: int, kept: int, note_last: bool) -> None:
    out = blocks.limit_blocks([blocks.section(f"s{i}") for i in range(count)])
    assert len(out) == kept
    if note_last:
        assert out[-1] == blocks.context("…more was cut to fit one Slack message")
        assert out[-2] == blocks.section("s48")
    else:
        assert out[-1] == blocks.section(f"s{count - 1}")


# ---------------------------------------------------------------- bot/reports/report.py

LAG_TABLE = Table(headers=["GROUP", "LAG"], rows=[["billing", "1,234"], ["orders", "5"]])


@pytest.mark.parametrize(("table", "shown"), [
    (LAG_TABLE, "GROUP    LAG\nbilling  1,234\norders       5"),
    (Table(headers=["P", "LAG", "STATUS"], rows=[["0", "-", "STOP"], ["12", "+40", "OK"]]),
     "P   LAG  STATUS\n 0  -    STOP\n12  +40  OK"),
    (Table(headers=["P", "LAG"], rows=[["0", "1"]], total_rows=40), "P  LAG\n0    1\n+39 more"),
    (Table(headers=["TOPIC", "GROWTH"], rows=[["orders", "12.5%"], ["payments-long-name", "-3"]]),
     "TOPIC               GROWTH\norders               12.5%\npayments-long-name      -3"),
], ids=["numbers-right-text-left", "dash-is-not-a-number", "cut-before-it-got-here", "percent-and-negative"])
def test_format_table(table: Table, shown: str) -> None:
    assert format_table(table) == shown


def test_format_table_says_how_many_rows_did_not_fit() -> None:
    table = Table(headers=["P", "LAG"], rows=[[str(i), "100"] for i in range(1000)])
    shown = format_table(table).splitlines()
    assert len("\n".join(shown)) <= 3000 - 100
    assert shown[-1] == f"+{1000 - (len(shown) - 2)} more"  # header and the "+N more" line are not rows
    assert shown[1:3] == ["  0  100", "  1  100"]  # worst rows (first) kept, numbers right-aligned


def report(**over: Any) -> Report:
    fields: dict[str, Any] = {
        "title": "Consumer lag: billing (local)",
        "verdict": Verdict(level=Level.WARNING, reasons=["billing lags 11,000 messages (warning above 10,000)",
                                                          "lag is uneven: <orders>[0] holds 94% of it"]),
        "tables": [LAG_TABLE], "notes": ["Catches up in ~4m at the current rates & rising."], "taken_at": TAKEN,
        "cli": ["kafka-consumer-groups --bootstrap-server <broker> --describe --group billing"]}
    return Report(**{**fields, **over})


def test_to_text() -> None:
    assert to_text(report()) == (
        "Consumer lag: billing (local): WARNING: billing lags 11,000 messages (warning above 10,000)\n"
        "- lag is uneven: <orders>[0] holds 94% of it\n"
        "GROUP    LAG\nbilling  1,234\norders       5\n"
        "Catches up in ~4m at the current rates & rising.\n"
        "Snapshot 2026-01-02 03:04:05 UTC\n"
        "By hand: kafka-consumer-groups --bootstrap-server <broker> --describe --group billing")


def test_to_blocks() -> None:
    assert to_blocks(report()) == [
        blocks.header("Consumer lag: billing (local)"),
        blocks.section(":large_yellow_circle: *WARNING*: billing lags 11,000 messages (warning above 10,000)\n"
                       "• lag is uneven: &lt;orders&gt;[0] holds 94% of it"),
        blocks.section("```GROUP    LAG\nbilling  1,234\norders       5```"),
        blocks.section("Catches up in ~4m at the current rates &amp; rising."),
        blocks.context("Snapshot 2026-01-02 03:04:05 UTC",
                       "By hand: `kafka-consumer-groups --bootstrap-server &lt;broker&gt; --describe --group billing`"),
    ]


def test_to_blocks_shows_six_reasons_and_counts_the_rest() -> None:
    many = Verdict(level=Level.CRITICAL, reasons=[f"reason {i}" for i in range(9)])
    headline = to_blocks(report(verdict=many))[1]["text"]["text"]
    assert headline == (":red_circle: *CRITICAL*: reason 0\n• reason 1\n• reason 2\n• reason 3\n• reason 4\n"
                        "• reason 5\n• +3 more")


def test_to_blocks_stays_within_50_blocks() -> None:
    out = to_blocks(report(notes=[f"note {i}" for i in range(80)]))
    assert len(out) == 50 and out[-1] == blocks.context("…more was cut to fit one Slack message")


def test_to_blocks_with_no_reason() -> None:
    out = to_blocks(report(verdict=Verdict(), tables=[], notes=[], cli=[]))
    assert out[1] == blocks.section(":large_green_circle: *OK*: nothing to report")
    assert out[2] == blocks.context("Snapshot 2026-01-02 03:04:05 UTC")


# Error patterns (DLQ summaries, replay plans) carry <n> and <uuid> placeholders: escaped,
# each becomes four characters. The table must still fit its section whole, with its
# closing fence and its "+N more".
PATTERNS = Table(title="Error patterns in the sample", headers=["COUNT", "PATTERN"],
                 rows=[[str(200 - i), f"DataException: bad byte <n> in <uuid> at offset <n> #{i}"] for i in range(200)])


def replay_card() -> list[Block]:
    rows = [Row(key=f"DataException: bad byte <n> in <uuid> #{i}", values={"messages": 200 - i}) for i in range(200)]
    plan = Plan(kind="replay_dlq", cluster="local", target="orders.dlq", summary="Replay 20,100 messages.",
                columns=["messages"], rows=rows)
    return card(request(plan), "<!subteam^S0APPROVERS>")


@pytest.mark.parametrize("section", [
    pytest.param(lambda: to_blocks(report(tables=[PATTERNS]))[2]["text"]["text"], id="report-table"),
    pytest.param(lambda: replay_card()[2]["text"]["text"], id="approval-plan-table"),
])
def test_a_table_of_escaped_text_keeps_its_fence_and_its_count(section: Any) -> None:
    text: str = section()
    assert len(text) <= blocks.SECTION_LIMIT
    assert text.endswith("```"), text[-60:]
    assert text.rsplit("\n", 1)[-1].startswith("+") and text.endswith(" more```"), text[-60:]


# ---------------------------------------------------------------- the incident parent

def incident(**over: Any) -> Incident:
    base = Incident(id=42, ref="INC-2027-0042", title="Orders lag", severity=Severity.CRITICAL, status=Status.OPEN,
                    alerts_resolved=False, runbook_id="high-consumer-lag",
                    subject=Subject(cluster="prod", group="billing", topic="orders"), labels={},
                    source="alertmanager", opened_by=None, commander=None, channel="C0INCIDENTS", thread_ts="1.1",
                    checklist_ts=None, dedicated_channel=None, created_at=T0, updated_at=T0, acknowledged_at=None,
                    resolved_at=None, resolved_by=None)
    return dataclasses.replace(base, **over)


OPEN_BUTTONS = [("Acknowledge", Action.ACKNOWLEDGE, "INC-2027-0042"),
                ("Run checks", Action.RUN_CHECKS, "INC-2027-0042"),
                ("Resolve", Action.RESOLVE, "INC-2027-0042")]
PARENTS: list[tuple[str, Incident, str | None, list[str], list[tuple[str, str, str]]]] = [
    ("open", incident(), "minute 5: lag and DLQ",
     ["INC-2027-0042 · Orders lag", "*Status*\n:rotating_light: Open", "*Severity*\n:red_circle: critical",
      "*Subject*\ncluster `prod`, group `billing`, topic `orders`", "*Runbook*\nHigh consumer lag",
      "*Commander*\nnobody yet", "*Opened*\n08:00:00 UTC (2m 05s ago)", "Next: minute 5: lag and DLQ"],
     OPEN_BUTTONS),
    ("acknowledged: no Acknowledge button", incident(status=Status.ACKNOWLEDGED, commander="U0BOB",
                                                     severity=Severity.WARNING), None,
     ["INC-2027-0042 · Orders lag", "*Status*\n:eyes: Acknowledged", "*Severity*\n:large_yellow_circle: warning",
      "*Subject*\ncluster `prod`, group `billing`, topic `orders`", "*Runbook*\nHigh consumer lag",
      "*Commander*\n<@U0BOB>", "*Opened*\n08:00:00 UTC (2m 05s ago)"],
     OPEN_BUTTONS[1:]),
    ("alerts resolved: a person confirms", incident(alerts_resolved=True, severity=Severity.INFO), None,
     ["INC-2027-0042 · Orders lag", "*Status*\n:rotating_light: Open (alerts resolved: confirm with Resolve)",
      "*Severity*\n:large_blue_circle: info", "*Subject*\ncluster `prod`, group `billing`, topic `orders`",
      "*Runbook*\nHigh consumer lag", "*Commander*\nnobody yet", "*Opened*\n08:00:00 UTC (2m 05s ago)"],
     OPEN_BUTTONS),
    ("resolved: no buttons, who and after how long", incident(status=Status.RESOLVED, commander="U0BOB",
                                                              resolved_by="U0CAROL", resolved_at=T0 + 3600,
                                                              dedicated_channel="C0INC42"), "never shown",
     ["INC-2027-0042 · Orders lag", "*Status*\n:white_check_mark: Resolved", "*Severity*\n:red_circle: critical",
      "*Subject*\ncluster `prod`, group `billing`, topic `orders`", "*Runbook*\nHigh consumer lag",
      "*Commander*\n<@U0BOB>", "*Opened*\n08:00:00 UTC (2m 05s ago)", "Discussion in <#C0INC42>",
      "Resolved by <@U0CAROL> at 09:00:00 UTC after 1h 00m"],
     []),
    ("label values are shown, never interpreted", incident(subject=Subject(group="<!channel>&co")), None,
     ["INC-2027-0042 · Orders lag", "*Status*\n:rotating_light: Open", "*Severity*\n:red_circle: critical",
      "*Subject*\ngroup `&lt;!channel&gt;&amp;co`", "*Runbook*\nHigh consumer lag", "*Commander*\nnobody yet",
      "*Opened*\n08:00:00 UTC (2m 05s ago)"],
     OPEN_BUTTONS),
]


@pytest.mark.parametrize(("found", "next_step", "shown", "pressable"), [c[1:] for c in PARENTS],
                         ids=[c[0] for c in PARENTS])
def test_incident_parent(found: Incident, next_step: str | None, shown: list[str],
                         pressable: list[tuple[str, str, str]]) -> None:
    out = parent(found, RUNBOOKS[found.runbook_id], next_step=next_step, now=T0 + 125)
    assert texts(out) == shown + [label for label, _, _ in pressable]
    assert buttons(out) == pressable
    if pressable:
        assert out[-1]["block_id"] == "incident-INC-2027-0042"


@pytest.mark.parametrize(("found", "line"), [
    (incident(), "[CRITICAL] INC-2027-0042: Orders lag (open)"),
    (incident(status=Status.RESOLVED, severity=Severity.INFO), "[INFO] INC-2027-0042: Orders lag (resolved)"),
], ids=["open", "resolved"])
def test_incident_parent_text(found: Incident, line: str) -> None:
    assert parent_text(found) == line


def test_incident_line_escapes_the_title() -> None:
    assert incident_line(incident(title="<!here> lag"), T0 + 125, "minute 5: lag and DLQ") == (
        ":red_circle: *INC-2027-0042* &lt;!here&gt; lag — open, open 2m 05s; next: minute 5: lag and DLQ")


# ---------------------------------------------------------------- the approval card

def request(plan: Plan, **over: Any) -> Request:
    base = Request(id="AR-7F3K2", incident_id=42, plan=plan, requester="U0ALICE", requested_at=T0,
                   expires_at=T0 + 900, state="requested", decided_by=None, decided_at=None, reason=None,
                   channel="C0INCIDENTS", card_ts=None, thread_ts=None, result=None, verification=None)
    return dataclasses.replace(base, **over)


PURGE = Plan(kind="purge_dlq", cluster="local", target="orders.dlq", summary="Purge orders.dlq: 1,234 messages.",
             columns=["messages"], rows=[Row(key="orders.dlq", values={"messages": 1234})],
             totals={"messages_deleted": 1234}, warnings=["This cannot be undone: <export> it first."],
             created_at=datetime(2027, 1, 15, 8, 0, tzinfo=UTC))
REFUSED = PURGE.model_copy(update={"rows": [], "refusals": [Refusal(reason="orders.dlq has 2 consumers: stop them.")]})
NOTHING = PURGE.model_copy(update={"rows": []})
FOOTER = [f"AR-7F3K2 · requested by <@U0ALICE> at 08:00:00 UTC · expires 08:15:00 UTC · plan {PURGE.plan_hash}",
          "A second person from <!subteam^S0APPROVERS> approves."]
PLAN_SHOWN = ["Purge a DLQ: orders.dlq", "*Dry run* on `local`: Purge orders.dlq: 1,234 messages.",
              "```ITEM        MESSAGES\norders.dlq     1,234```", "*Totals*: messages deleted 1,234",
              ":warning: This cannot be undone: &lt;export&gt; it first."]

CARDS: list[tuple[str, Request, list[str], list[tuple[str, str, str]]]] = [
    ("waiting for a second person", request(PURGE), PLAN_SHOWN + FOOTER,
     [("Approve", Action.APPROVE, "AR-7F3K2"), ("Deny", Action.DENY, "AR-7F3K2")]),
    ("approved", request(PURGE, state="approved", decided_by="U0BOB"),
     PLAN_SHOWN + FOOTER + ["*:hourglass_flowing_sand: Approved, executing* by <@U0BOB>"], []),
    ("denied with a reason", request(PURGE, state="denied", decided_by="U0CAROL", reason="not <now>"),
     PLAN_SHOWN + FOOTER + ["*:no_entry: Denied* by <@U0CAROL>: not &lt;now&gt;"], []),
    ("expired", request(PURGE, state="expired", decided_by=None), PLAN_SHOWN + FOOTER + ["*:clock3: Expired*"], []),
    ("executed", request(PURGE, state="executed", decided_by="U0BOB"),
     PLAN_SHOWN + FOOTER + ["*:white_check_mark: Executed* by <@U0BOB>"], []),
    ("the dry run refuses: nothing to approve", request(REFUSED),
     ["Purge a DLQ: orders.dlq", "*Dry run* on `local`: Purge orders.dlq: 1,234 messages.",
      "*Totals*: messages deleted 1,234", ":warning: This cannot be undone: &lt;export&gt; it first.",
      ":no_entry_sign: orders.dlq has 2 consumers: stop them.",
      f"AR-7F3K2 · requested by <@U0ALICE> at 08:00:00 UTC · expires 08:15:00 UTC · plan {REFUSED.plan_hash}",
      FOOTER[1], "*:no_entry_sign: Nothing to approve*"], []),
    ("nothing to do", request(NOTHING),
     ["Purge a DLQ: orders.dlq", "*Dry run* on `local`: Purge orders.dlq: 1,234 messages.",
      "*Totals*: messages deleted 1,234", ":warning: This cannot be undone: &lt;export&gt; it first.",
      f"AR-7F3K2 · requested by <@U0ALICE> at 08:00:00 UTC · expires 08:15:00 UTC · plan {NOTHING.plan_hash}",
      FOOTER[1], "*:white_check_mark: Nothing to do*"], []),
]


@pytest.mark.parametrize(("found", "shown", "pressable"), [c[1:] for c in CARDS], ids=[c[0] for c in CARDS])
def test_approval_card(found: Request, shown: list[str], pressable: list[tuple[str, str, str]]) -> None:
    out = card(found, "<!subteam^S0APPROVERS>")
    assert texts(out) == shown + [label for label, _, _ in pressable]
    assert buttons(out) == pressable
    if pressable:
        assert out[-1]["block_id"] == "approval-AR-7F3K2"


def test_approval_card_text() -> None:
    assert card_text(request(PURGE, state="denied")) == "Approval AR-7F3K2: Purge a DLQ of orders.dlq (denied)"


def test_approval_card_rows_worst_first_with_notes() -> None:
    plan = Plan(kind="reset_offsets", cluster="local", target="billing", summary="Reset billing.",
                columns=["current", "target"],
                rows=[Row(key="orders[1]", values={"current": 10, "target": 0}),
                      Row(key="orders[0]", values={"current": 5000, "target": 0}, note="clamped", severity=2)])
    table = card(request(plan), "@approvers")[2]["text"]["text"]
    assert table == ("```ITEM       CURRENT  TARGET  NOTE\norders[0]    5,000       0  clamped\n"
                     "orders[1]       10       0```")


def test_a_report_of_a_thousand_groups_still_fits_one_message() -> None:
    """A cluster of a thousand lagging groups gives a reason each: the plain text keeps
    the worst fifty and says how many more, under the 40,000 characters Slack takes."""
    reasons = [f"group-{n:04d} lags {n:,} messages (warning above 10,000)" for n in range(1000)]
    text = to_text(report(verdict=Verdict(level=Level.WARNING, reasons=reasons), tables=[], notes=[], cli=[]))
    lines = text.splitlines()
    assert lines[1] == "- group-0001 lags 1 messages (warning above 10,000)"
    assert lines[50] == "- group-0050 lags 50 messages (warning above 10,000)"
    assert lines[51] == "+949 more"
    assert len(text) < 40_000
