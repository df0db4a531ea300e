"""Which approvers a request needs, and how many: the most specific
``approvals.policies`` entry that fits the action and cluster, else the plain
``approvals.approvers`` with one approval. Pure, so the choice is a table test.

On call: whoever builds the on-call view hands the context an ``oncall(cluster)``
callable (``BotContext.oncall``); approvers it names are shown first on the card. The
policy decides who *may* approve; being on call only changes the order shown."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from bot.config.approval_policy import ApprovalPolicy
from bot.config.sections import ApprovalSettings
from bot.reports.markup import user

OnCall = Callable[[str], Iterable[str]]  # cluster -> Slack user ids on call for it now


@dataclass(frozen=True)
class Policy:
    approvers: tuple[str, ...]
    usergroup: str | None
    count: int
    source: str  # which configuration decided, for the card's small print: "policy 2", "approvals.approvers"


def choose(settings: ApprovalSettings, kind: str, command: str, cluster: str) -> Policy:
    fitting = [(i, p) for i, p in enumerate(settings.policies) if p.fits(kind, command, cluster)]
    if fitting:
        # max() keeps the first of equals: file order breaks ties.
        i, best = max(fitting, key=lambda ip: (ip[1].specificity, -ip[0]))
        return _of(best, f"approvals.policies[{i}]")
    return Policy(tuple(settings.approvers), settings.approvers_usergroup, 1, "approvals.approvers")


def _of(p: ApprovalPolicy, source: str) -> Policy:
    return Policy(tuple(p.approvers), p.approvers_usergroup, p.count, source)


def on_call_first(approvers: Iterable[str], on_call: Iterable[str]) -> list[str]:
    """The listed approvers with those on call first (in the listed order otherwise)."""
    listed, now = list(approvers), set(on_call)
    return [a for a in listed if a in now] + [a for a in listed if a not in now]


def label(policy: Policy, on_call: Iterable[str] = ()) -> str:
    """Who may approve, as markup: on-call approvers first and marked, then the rest, then the group."""
    now = set(on_call)
    first = [f"{user(a)} (on call)" for a in policy.approvers if a in now]
    group = [f"<!subteam^{policy.usergroup}>"] if policy.usergroup else []
    rest = [user(a) for a in policy.approvers if a not in now]
    return ", ".join(first + group + rest) or "the configured approvers (none are configured)"


def needs(policy: Policy) -> str:
    """'a second person' or '2 different approvers', for sentences."""
    return "a second person" if policy.count == 1 else f"{policy.count} different approvers"
