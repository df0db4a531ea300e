"""Runbooks are data: one YAML file each in the `runbooks` package, validated
against these models when the bot starts. Adding a runbook is adding a file."""

from __future__ import annotations

import re
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from bot.config import LadderStep


class Broker(StrEnum):
    KAFKA = "kafka"
    RABBITMQ = "rabbitmq"

    @property
    def label(self) -> str:
        return {"kafka": "Kafka", "rabbitmq": "RabbitMQ"}[self.value]


class Check(StrEnum):
    """What the bot can run for a step by itself; `manual` steps are for people."""

    KAFKA_LAG = "kafka.lag"
    KAFKA_GROUP = "kafka.group"
    KAFKA_DLQ = "kafka.dlq"
    KAFKA_BROKERS = "kafka.brokers"
    RABBITMQ_QUEUE = "rabbitmq.queue"
    RABBITMQ_NODES = "rabbitmq.nodes"
    SCHEMA_SUBJECT = "schema.subject"
    MANUAL = "manual"

    @property
    def broker(self) -> Broker | None:
        """The broker the check looks at; None for schema and manual steps."""
        try:
            return Broker(self.value.partition(".")[0])
        except ValueError:
            return None


class Step(BaseModel):
    id: str = Field(pattern=r"^[a-z0-9-]+$")
    title: str = Field(min_length=3, max_length=150)
    check: Check = Check.MANUAL
    detail: str = ""
    # The CLI lines a person would type, with {group}, {topic}, {queue}... placeholders:
    # `command` fits any subject (kubectl, curl); `commands` has one line per broker, and
    # an incident shows only the line of its subject's broker.
    command: str | None = None
    commands: dict[Broker, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _commands_fit_the_check(self) -> Step:
        broker = self.check.broker
        if broker is not None and self.command is not None:
            # A plain command on a Kafka or RabbitMQ check is that broker's (how runbooks said it before `commands`).
            if broker in self.commands:
                raise ValueError(f"step {self.id}: command and commands.{broker} both give its {broker.label} command")
            self.commands, self.command = {broker: self.command, **self.commands}, None
        for other in self.commands:
            if broker is not None and other is not broker:
                raise ValueError(f"step {self.id} runs {self.check} but has a {other.label} command: its Run button "
                                 f"and its command would look at different brokers")
        return self

    def fits(self, broker: Broker | None) -> bool:
        """Whether the step belongs on the checklist of a subject on `broker`: a Kafka
        check has nothing to say about a RabbitMQ queue. `broker` None: every step."""
        return broker is None or self.check.broker in (None, broker)

    def commands_for(self, broker: Broker | None) -> list[tuple[Broker | None, str]]:
        """The lines that fit a subject on `broker` (with the broker each is for);
        `broker` None: the subject names no broker, so every line."""
        shown: list[tuple[Broker | None, str]] = [(None, self.command)] if self.command else []
        return shown + [(b, line) for b, line in self.commands.items() if broker is None or b is broker]


class Remedy(BaseModel):
    when: str
    do: str
    action: str | None = None  # a destructive action the bot can run with approval


class Runbook(BaseModel):
    id: str = Field(pattern=r"^[a-z0-9-]+$")
    title: str
    summary: str
    severity: str = Field("warning", pattern=r"^(critical|warning|info)$")
    # Alert label matchers; any one may match, and all labels of a matcher must:
    # a plain value matches exactly, "~regex" matches the whole label value.
    match: list[dict[str, str]] = Field(default_factory=list)
    symptoms: list[str] = Field(default_factory=list)
    diagnosis: list[Step] = Field(min_length=1)
    remediation: list[Remedy] = Field(default_factory=list)
    escalation: list[LadderStep] | None = None  # replaces the configured ladder for this runbook
    # One incident per problem (bot.incidents.correlation). `cluster`: the runbook is
    # about a whole cluster (a broker down, the cluster unreachable), so its alerts on
    # one cluster are one problem, and the lag and DLQ problems that follow on that
    # cluster attach to it. `attach_to_cluster`: this runbook's problems are such
    # symptoms and attach to an open cluster-level incident of their cluster.
    scope: Literal["subject", "cluster"] = "subject"
    attach_to_cluster: bool = False

    @field_validator("match")
    @classmethod
    def _matchers(cls, v: list[dict[str, str]]) -> list[dict[str, str]]:
        for matcher in v:
            if not matcher:
                raise ValueError("an empty matcher would match every alert")
            for label, wanted in matcher.items():
                if wanted.startswith("~"):
                    try:
                        re.compile(wanted[1:])
                    except re.error as exc:
                        raise ValueError(f"{label}: '{wanted}' is not a valid regular expression ({exc})") from None
        return v

    @model_validator(mode="after")
    def _unique_steps(self) -> "Runbook":
        ids = [s.id for s in self.diagnosis]
        if len(ids) != len(set(ids)):
            raise ValueError(f"step ids repeat in {self.id}: {sorted({i for i in ids if ids.count(i) > 1})}")
        return self


class RunbookError(Exception):
    pass


def load_file(path: Path) -> Runbook:
    try:
        data = yaml.safe_load(path.read_text())
        return Runbook.model_validate(data)
    except yaml.YAMLError as exc:
        raise RunbookError(f"{path.name}: not valid YAML ({exc})") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) + ": " if first["loc"] else ""  # none: the whole file
        raise RunbookError(f"{path.name}: {where}{first['msg'].removeprefix('Value error, ')}") from None


def shipped() -> Path:
    return Path(str(resources.files("runbooks")))


def load_all(folder: Path | None = None, extra: Path | None = None) -> dict[str, Runbook]:
    """Every runbook, by id: the shipped ones (or those of `folder`), then those of
    `extra`, where a file with a shipped runbook's id replaces it."""
    books = _load_folder(folder or shipped())
    if extra is not None:
        if not extra.is_dir():
            raise RunbookError(f"runbooks_dir {extra} is not a folder")
        books.update(_load_folder(extra, allow_empty=True))
    if "generic-triage" not in books:
        raise RunbookError("the generic-triage runbook is missing: unmatched alerts need it")
    return books


def _load_folder(root: Path, allow_empty: bool = False) -> dict[str, Runbook]:
    books: dict[str, Runbook] = {}
    for path in sorted(root.glob("*.yaml")):
        book = load_file(path)
        if book.id in books:
            raise RunbookError(f"{path.name}: runbook id {book.id!r} is already used")
        if re.sub(r"\.yaml$", "", path.name) != book.id:
            raise RunbookError(f"{path.name}: the file name must be the runbook id ({book.id}.yaml)")
        books[book.id] = book
    if not books and not allow_empty:
        raise RunbookError(f"no runbooks found in {root}")
    return books
