"""Which policy decides a request: the most specific that fits, file order between
equals, the plain approvers when none fits; the configuration's checks; and the
on-call approvers named first."""

from __future__ import annotations

import pytest

from bot.approvals import policy
from bot.config import ConfigError, load
from bot.config.sections import ApprovalSettings

SETTINGS = ApprovalSettings.model_validate({
    "approvers": ["U0BOB"], "approvers_usergroup": "S0SRE",
    "policies": [
        {"clusters": ["prod"], "approvers": ["U0CAROL"]},                                          # 0
        {"actions": ["purge_dlq"], "clusters": ["prod"], "approvers": ["U0BOB", "U0CAROL"], "count": 2},  # 1
        {"actions": ["replay-dlq"], "approvers_usergroup": "S0DATA"},                              # 2
        {"actions": ["replay_dlq"], "approvers": ["U0DAVE"]},                                      # 3 (a tie: 2 wins)
        {"actions": ["purge_dlq"], "clusters": ["prod"], "approvers": ["U0DAVE"]},                 # 4 (a tie: 1 wins)
    ],
})

CHOICES = [
    ("action and cluster beat cluster alone", "purge_dlq", "purge-dlq", "prod",
     policy.Policy(("U0BOB", "U0CAROL"), None, 2, "approvals.policies[1]")),
    ("cluster alone when the action is not named", "reset_offsets", "reset-offsets", "prod",
     policy.Policy(("U0CAROL",), None, 1, "approvals.policies[0]")),
    ("an action named by its command", "replay_dlq", "replay-dlq", "staging",
     policy.Policy((), "S0DATA", 1, "approvals.policies[2]")),
    ("action and cluster beat the action alone", "replay_dlq", "replay-dlq", "prod",
     policy.Policy(("U0CAROL",), None, 1, "approvals.policies[0]")),
    ("nothing fits: the plain approvers, one approval", "purge_dlq", "purge-dlq", "staging",
     policy.Policy(("U0BOB",), "S0SRE", 1, "approvals.approvers")),
]


@pytest.mark.parametrize(("kind", "command", "cluster", "chosen"), [c[1:] for c in CHOICES],
                         ids=[c[0] for c in CHOICES])
def test_the_most_specific_policy_wins(kind: str, command: str, cluster: str, chosen: policy.Policy) -> None:
    assert policy.choose(SETTINGS, kind, command, cluster) == chosen


def test_no_policies_is_todays_rule() -> None:
    plain = ApprovalSettings(approvers=["U0BOB", "U0CAROL"])
    assert policy.choose(plain, "purge_dlq", "purge-dlq", "prod") == \
        policy.Policy(("U0BOB", "U0CAROL"), None, 1, "approvals.approvers")


BAD = [
    ({"clusters": ["prod"]}, "a policy needs approvers or approvers_usergroup"),
    ({"approvers": ["U0BOB"], "count": 2}, "count 2 needs at least 2 approvers, but only 1 are listed"),
    ({"approvers": ["bob"]}, "'bob' is not a Slack user id (like U0123ABC)"),
    ({"approvers": ["U0BOB"], "actions": ["Purge DLQ"]},
     "'Purge DLQ' is not an action kind (like purge_dlq) or command (like purge-dlq)"),
    ({"approvers_usergroup": "S0SRE", "count": 0}, "Input should be greater than or equal to 1"),
    ({"approvers_usergroup": "S0SRE", "count": 9}, "Input should be less than or equal to 5"),
]


@pytest.mark.parametrize(("entry", "message"), BAD)
def test_a_bad_policy_is_named(entry: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as refused:
        load(database_url="sqlite:///unused.db", approvals={"policies": [entry]})
    assert "approvals.policies.0" in str(refused.value) and message in str(refused.value)


def test_a_group_with_a_count_needs_no_list() -> None:
    settings = load(database_url="sqlite:///unused.db",
                    approvals={"policies": [{"approvers_usergroup": "S0SRE", "count": 2}]})
    assert settings.approvals.policies[0].count == 2


LABELS = [
    ((), "<@U0BOB>, <@U0CAROL>, <@U0DAVE>"),
    (("U0DAVE",), "<@U0DAVE> (on call), <@U0BOB>, <@U0CAROL>"),
    (("U0CAROL", "U0ZED"), "<@U0CAROL> (on call), <@U0BOB>, <@U0DAVE>"),  # on call but no approver: not named
]


@pytest.mark.parametrize(("on_call", "label"), LABELS)
def test_on_call_approvers_are_named_first(on_call: tuple[str, ...], label: str) -> None:
    chosen = policy.Policy(("U0BOB", "U0CAROL", "U0DAVE"), None, 2, "x")
    assert policy.label(chosen, on_call) == label


def test_the_group_follows_the_on_call_approvers() -> None:
    chosen = policy.Policy(("U0BOB", "U0CAROL"), "S0SRE", 1, "x")
    assert policy.label(chosen, ["U0CAROL"]) == "<@U0CAROL> (on call), <!subteam^S0SRE>, <@U0BOB>"
    assert policy.label(chosen) == "<!subteam^S0SRE>, <@U0BOB>, <@U0CAROL>"
