"""What an alert, an incident, a check or a watch round is about: a cluster and a
consumer group, topic or queue on it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from bot.runbooks import Broker


@dataclass(frozen=True)
class Subject:
    """What the checks inspect."""

    cluster: str | None = None
    group: str | None = None
    topic: str | None = None
    queue: str | None = None

    @property
    def broker(self) -> Broker | None:
        """A queue is RabbitMQ's, a group or a topic Kafka's; None when the subject
        names neither, or both."""
        kafka = bool(self.group or self.topic)
        if self.queue and not kafka:
            return Broker.RABBITMQ
        if kafka and not self.queue:
            return Broker.KAFKA
        return None

    def describe(self) -> str:
        parts = [f"{k} `{v}`" for k, v in (("cluster", self.cluster), ("group", self.group),
                                           ("topic", self.topic), ("queue", self.queue)) if v]
        return ", ".join(parts) or "no subject named"


def pick_cluster(wanted: str | None, configured: Iterable[str]) -> tuple[str, str | None]:
    """The configured cluster a subject's checks use: the one it names, else the
    first configured one, with a sentence saying so when it named an unknown one."""
    names = list(configured)
    if wanted in names:
        return wanted, None  # type: ignore[return-value]
    note = f"The alert names cluster `{wanted}`, which is not configured; checked `{names[0]}`." if wanted else None
    return names[0], note
