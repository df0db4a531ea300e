"""Is a webhook really from its source? Bearer tokens and HMAC signatures (with and
without a timestamp, as Grafana signs), each way of getting it wrong answered with
the reason the 401 carries, on a fixed clock; secrets compared in constant time."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

import pytest
from werkzeug.datastructures import Headers

from bot.alerts import auth
from bot.config import AlertSourceSettings, load

NOW = 1_800_000_000.0
BODY = b'{"title": "Orders DLQ overflowing"}'
TOKEN = "am-token-0123456789"
SECRET = "grafana-hmac-secret-42"

BEARER = AlertSourceSettings(bearer_token=TOKEN)
PLAIN_HMAC = AlertSourceSettings(hmac_secret=SECRET)  # X-Signature over the body
# What a configured grafana source becomes: the defaults of config.py under the secret.
GRAFANA = load(alerts={"sources": {"grafana": {"hmac_secret": SECRET}}}).alerts.sources["grafana"]
BOTH = AlertSourceSettings(bearer_token=TOKEN, hmac_secret=SECRET)
NEITHER = AlertSourceSettings()


def sign(message: bytes, secret: str = SECRET) -> str:
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def stamped(stamp: float | str, body: bytes = BODY, secret: str = SECRET) -> dict[str, str]:
    text = str(int(stamp)) if isinstance(stamp, float) else stamp
    return {"X-Grafana-Alerting-Signature": sign(text.encode() + b":" + body, secret),
            "X-Grafana-Alerting-Signature-Timestamp": text}


CASES: list[tuple[str, AlertSourceSettings, Mapping[str, str], str | None]] = [
    ("nothing configured accepts nothing", NEITHER, {"Authorization": f"Bearer {TOKEN}"},
     "this alert source has no bearer token or HMAC secret configured, so it accepts nothing"),
    # bearer
    ("bearer ok", BEARER, {"Authorization": f"Bearer {TOKEN}"}, None),
    ("bearer wrong", BEARER, {"Authorization": "Bearer am-token-0123456788"}, "wrong bearer token"),
    ("bearer missing", BEARER, {}, "missing Authorization: Bearer header"),
    ("bearer empty", BEARER, {"Authorization": ""}, "missing Authorization: Bearer header"),
    ("bearer without the scheme", BEARER, {"Authorization": TOKEN}, "wrong bearer token"),
    ("basic auth is not a bearer token", BEARER, {"Authorization": f"Basic {TOKEN}"}, "wrong bearer token"),
    ("bearer token with a suffix", BEARER, {"Authorization": f"Bearer {TOKEN}x"}, "wrong bearer token"),
    ("header names are case-insensitive over HTTP", BEARER, Headers({"authorization": f"Bearer {TOKEN}"}), None),
    # HMAC of the body
    ("hmac ok", PLAIN_HMAC, {"X-Signature": sign(BODY)}, None),
    ("hmac ok with sha256= prefix", PLAIN_HMAC, {"X-Signature": "sha256=" + sign(BODY)}, None),
    ("hmac ok in upper-case hex", PLAIN_HMAC, {"X-Signature": sign(BODY).upper()}, None),
    ("hmac ok with surrounding spaces", PLAIN_HMAC, {"X-Signature": f" {sign(BODY)} "}, None),
    ("hmac of another body", PLAIN_HMAC, {"X-Signature": sign(BODY + b" ")}, "X-Signature does not match the body"),
    ("hmac with another secret", PLAIN_HMAC, {"X-Signature": sign(BODY, "other")},
     "X-Signature does not match the body"),
    ("hmac missing", PLAIN_HMAC, {}, "missing X-Signature header"),
    ("hmac malformed", PLAIN_HMAC, {"X-Signature": "not-hex-at-all"}, "X-Signature does not match the body"),
    ("hmac base64 instead of hex", PLAIN_HMAC,
     {"X-Signature": "q8mZsT0HQeW4hXtm6Yyq5X4pV2p5l0i3X1Ue7b8u1ZQ="}, "X-Signature does not match the body"),
    # HMAC with a timestamp (Grafana)
    ("grafana ok", GRAFANA, stamped(NOW), None),
    ("grafana ok 300 s old", GRAFANA, stamped(NOW - 300), None),
    ("grafana stale: 301 s old", GRAFANA, stamped(NOW - 301),
     "X-Grafana-Alerting-Signature-Timestamp is more than 5 minutes off: replayed or clock skew"),
    ("grafana from the future: 301 s ahead", GRAFANA, stamped(NOW + 301),
     "X-Grafana-Alerting-Signature-Timestamp is more than 5 minutes off: replayed or clock skew"),
    ("grafana timestamp missing", GRAFANA, {"X-Grafana-Alerting-Signature": sign(BODY)},
     "missing or unreadable X-Grafana-Alerting-Signature-Timestamp header"),
    ("grafana timestamp malformed", GRAFANA, stamped("yesterday"),
     "missing or unreadable X-Grafana-Alerting-Signature-Timestamp header"),
    # "nan" is a float that compares false with everything: it would never go stale.
    ("grafana timestamp nan, correctly signed", GRAFANA, stamped("nan"),
     "missing or unreadable X-Grafana-Alerting-Signature-Timestamp header"),
    ("grafana timestamp inf, correctly signed", GRAFANA, stamped("inf"),
     "missing or unreadable X-Grafana-Alerting-Signature-Timestamp header"),
    ("grafana signature missing", GRAFANA, {"X-Grafana-Alerting-Signature-Timestamp": str(int(NOW))},
     "missing X-Grafana-Alerting-Signature header"),
    ("grafana signature of the body alone", GRAFANA,
     {"X-Grafana-Alerting-Signature": sign(BODY), "X-Grafana-Alerting-Signature-Timestamp": str(int(NOW))},
     "X-Grafana-Alerting-Signature does not match the body"),
    ("grafana timestamp changed after signing", GRAFANA,
     {**stamped(NOW), "X-Grafana-Alerting-Signature-Timestamp": str(int(NOW) + 1)},
     "X-Grafana-Alerting-Signature does not match the body"),
    # both configured: both are required
    ("both ok", BOTH, {"Authorization": f"Bearer {TOKEN}", "X-Signature": sign(BODY)}, None),
    ("both: token only", BOTH, {"Authorization": f"Bearer {TOKEN}"}, "missing X-Signature header"),
    ("both: signature only", BOTH, {"X-Signature": sign(BODY)}, "missing Authorization: Bearer header"),
]


@pytest.mark.parametrize(("source", "headers", "refusal"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_check(source: AlertSourceSettings, headers: Mapping[str, str], refusal: str | None) -> None:
    assert auth.refusal_reason(source, headers, BODY, now=NOW) == refusal


def test_grafana_defaults_are_its_documented_header_names() -> None:
    assert (GRAFANA.hmac_header, GRAFANA.hmac_timestamp_header) == (
        "X-Grafana-Alerting-Signature", "X-Grafana-Alerting-Signature-Timestamp")


class Spy:
    """hmac.compare_digest, recording what it compared; `answer` overrides its result."""

    def __init__(self, answer: bool | None = None) -> None:
        self.calls: list[tuple[bytes, bytes]] = []
        self.answer = answer
        self.real = hmac.compare_digest

    def __call__(self, a: bytes, b: bytes) -> bool:
        self.calls.append((a, b))
        return self.real(a, b) if self.answer is None else self.answer


@pytest.mark.parametrize(("source", "headers", "compared", "refusal"), [
    (BEARER, {"Authorization": f"Bearer {TOKEN}"}, [(f"Bearer {TOKEN}".encode(), f"Bearer {TOKEN}".encode())],
     "wrong bearer token"),
    (PLAIN_HMAC, {"X-Signature": sign(BODY)}, [(sign(BODY).encode(), sign(BODY).encode())],
     "X-Signature does not match the body"),
], ids=["bearer", "hmac"])
def test_secrets_are_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch, source: AlertSourceSettings,
                                                headers: dict[str, str], compared: list[tuple[bytes, bytes]],
                                                refusal: str) -> None:
    spy = Spy()
    monkeypatch.setattr(auth.hmac, "compare_digest", spy)
    assert auth.refusal_reason(source, headers, BODY, now=NOW) is None
    assert spy.calls == compared
    # ...and its answer is the decision: no other comparison lets a request through.
    monkeypatch.setattr(auth.hmac, "compare_digest", Spy(answer=False))
    assert auth.refusal_reason(source, headers, BODY, now=NOW) == refusal
