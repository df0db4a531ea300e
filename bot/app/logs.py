"""Logging set-up. Known secret values are scrubbed from every record, so that a
library that logs a request (or an exception that quotes one) cannot leak them."""

from __future__ import annotations

import logging
import re
import sys

from bot.config import Settings

_TOKEN_SHAPES = re.compile(r"xox[abposr]-[A-Za-z0-9-]+")
_APP_TOKEN_SHAPE = re.compile(r"xapp-[A-Za-z0-9-]+")  # Socket Mode's app-level tokens


class Redact(logging.Filter):
    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if len(s) >= 4]

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = _APP_TOKEN_SHAPE.sub("xapp-********", _TOKEN_SHAPES.sub("xox?-********", message))
        for secret in self.secrets:
            cleaned = cleaned.replace(secret, "********")
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def secrets_of(settings: Settings) -> list[str]:
    values = [settings.slack.bot_token, settings.slack.signing_secret, settings.slack.app_token]
    values += [r.password for r in settings.rabbitmq.values()]
    # On-call vendors' keys (PagerDuty token, Opsgenie api_key).
    values += [getattr(s, k, None) for s in settings.oncall.schedules.values() for k in ("token", "api_key")]
    found = [v.get_secret_value() for v in values if v is not None]
    for cluster in settings.kafka.values():
        found += [v for k, v in cluster.client_config.items() if re.search(r"pass|secret|key", k)]
    return found + settings.paging.secret_values()


def setup(settings: Settings, stream=sys.stderr) -> None:  # type: ignore[no-untyped-def]
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(Redact(secrets_of(settings)))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level)
    # These libraries log request bodies and headers at DEBUG.
    for noisy in ("slack_sdk", "slack_bolt", "urllib3", "pika", "werkzeug", "apscheduler"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
