"""Who approves which destructive action on which cluster, and how many of them:
``approvals.policies``. The most specific policy that fits a request wins (one naming
both its action and its cluster beats one naming only one of them, which beats one
naming neither); equally specific ones are tried in file order. A request no policy
fits falls back to ``approvals.approvers`` / ``approvals.approvers_usergroup`` and one
approval, as before policies existed.

    approvals:
      policies:
        - {actions: [purge_dlq], clusters: [prod], approvers: [U0BOB, U0CAROL, U0ERIN], count: 2}
        - {clusters: [prod], approvers_usergroup: S0SRE}
"""

from __future__ import annotations

import re

from pydantic import BaseModel, Field, field_validator, model_validator

MAX_COUNT = 5  # more approvers than this at 3 a.m. is a policy nobody can meet


class ApprovalPolicy(BaseModel):
    # Action kinds (purge_dlq) or their commands (purge-dlq); empty: every action.
    actions: list[str] = Field(default_factory=list)
    clusters: list[str] = Field(default_factory=list)  # cluster names; empty: every cluster
    approvers: list[str] = Field(default_factory=list)  # Slack user ids
    approvers_usergroup: str | None = None  # a Slack user group id, e.g. S0123ABC
    count: int = Field(1, ge=1, le=MAX_COUNT)  # different approvers needed, never the requester

    @field_validator("approvers")
    @classmethod
    def _users(cls, v: list[str]) -> list[str]:
        for person in v:
            if not re.fullmatch(r"[UW][A-Z0-9]{2,}", person):
                raise ValueError(f"'{person}' is not a Slack user id (like U0123ABC)")
        return v

    @field_validator("actions")
    @classmethod
    def _actions(cls, v: list[str]) -> list[str]:
        for name in v:
            if not re.fullmatch(r"[a-z][a-z0-9_-]*", name):
                raise ValueError(f"'{name}' is not an action kind (like purge_dlq) or command (like purge-dlq)")
        return [name.replace("-", "_") for name in v]

    @model_validator(mode="after")
    def _enough(self) -> ApprovalPolicy:
        if not self.approvers and not self.approvers_usergroup:
            raise ValueError("a policy needs approvers or approvers_usergroup")
        if self.approvers_usergroup is None and self.count > len(self.approvers):
            raise ValueError(f"count {self.count} needs at least {self.count} approvers, "
                             f"but only {len(self.approvers)} are listed")
        return self

    @property
    def specificity(self) -> int:
        return (1 if self.actions else 0) + (1 if self.clusters else 0)

    def fits(self, kind: str, command: str, cluster: str) -> bool:
        actions_fit = not self.actions or kind in self.actions or command.replace("-", "_") in self.actions
        return actions_fit and (not self.clusters or cluster in self.clusters)
