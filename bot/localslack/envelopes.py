"""Socket Mode envelopes as the stand-in sends them, and the ledger of their
acknowledgements.

Slack wraps every request to a Socket Mode app in an envelope
``{"envelope_id", "type", "payload", "accepts_response_payload"}`` (events also
carry ``retry_attempt`` and ``retry_reason``); the app answers each with
``{"envelope_id", "payload"?}`` within three seconds. An envelope not answered in
time is an unacknowledged one: Slack retries events, and tells the person that a
slash command or an interaction failed.
"""

from __future__ import annotations

import copy
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from bot.localslack.models import JsonDict

EnvelopeType = Literal["slash_commands", "interactive", "events_api"]
ACK_TIMEOUT_S = 3.0  # Slack's limit for acknowledging an envelope


@dataclass
class Envelope:
    envelope_id: str
    type: EnvelopeType
    payload: JsonDict
    accepts_response_payload: bool
    sent_at: float
    deadline: float
    link_id: str
    retry_attempt: int = 0
    acked_at: float | None = None
    ack_payload: JsonDict | None = None
    late: bool = False  # acknowledged after the deadline: Slack had given up on it

    @property
    def acked(self) -> bool:
        """Acknowledged in time."""
        return self.acked_at is not None and not self.late

    def wire(self) -> JsonDict:
        """The envelope as it travels on the WebSocket."""
        frame: JsonDict = {"envelope_id": self.envelope_id, "type": self.type, "payload": self.payload,
                           "accepts_response_payload": self.accepts_response_payload}
        if self.type == "events_api":
            frame["retry_attempt"] = self.retry_attempt
            frame["retry_reason"] = "timeout" if self.retry_attempt else ""
        return frame


class AckFrame(BaseModel):
    """What the app sends back: the envelope's id and, where allowed, a response."""

    model_config = ConfigDict(extra="allow")
    envelope_id: str
    payload: dict[str, Any] | None = None


def parse_ack(raw: str | bytes) -> AckFrame | None:
    try:
        return AckFrame.model_validate_json(raw)
    except ValidationError:
        return None


class Ledger:
    """Every envelope sent, and a way to wait for its acknowledgement."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._sent: dict[str, Envelope] = {}
        self._stray: list[JsonDict] = []  # acks naming no envelope we sent

    def new(self, type: EnvelopeType, payload: JsonDict, *, accepts_response_payload: bool, link_id: str,
            ack_timeout: float = ACK_TIMEOUT_S, retry_attempt: int = 0) -> Envelope:
        now = time.time()
        envelope = Envelope(str(uuid.uuid4()), type, copy.deepcopy(payload), accepts_response_payload, now,
                            now + ack_timeout, link_id, retry_attempt)
        with self._cond:
            self._sent[envelope.envelope_id] = envelope
        return envelope

    def acknowledge(self, ack: AckFrame) -> Envelope | None:
        """Match an ack to its envelope by ``envelope_id``; None when it names none
        (or one already acknowledged)."""
        with self._cond:
            envelope = self._sent.get(ack.envelope_id)
            if envelope is None or envelope.acked_at is not None:
                self._stray.append(ack.model_dump())
                return None
            envelope.acked_at = time.time()
            envelope.late = envelope.acked_at > envelope.deadline
            envelope.ack_payload = ack.payload
            self._cond.notify_all()
            return copy.deepcopy(envelope)

    def wait(self, envelope_id: str) -> Envelope:
        """Block until the envelope is acknowledged or its deadline passes."""
        with self._cond:
            envelope = self._sent[envelope_id]
            while envelope.acked_at is None:
                remaining = envelope.deadline - time.time()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
            return copy.deepcopy(envelope)

    def envelopes(self) -> list[Envelope]:
        with self._cond:
            return copy.deepcopy(sorted(self._sent.values(), key=lambda e: e.sent_at))

    def unacked(self) -> list[Envelope]:
        """Envelopes whose deadline passed without an acknowledgement in time."""
        now = time.time()
        return [e for e in self.envelopes() if not e.acked and (e.late or e.deadline < now)]

    def stray_acks(self) -> list[JsonDict]:
        with self._cond:
            return copy.deepcopy(self._stray)
