"""Slack's requests over HTTP, in the order that keeps bad input away from Bolt:
the signature first (nothing of an unsigned, forged or stale request is parsed),
then the body's shape (bot/slack/inbound.py), then Bolt's listeners.

bot/app/web.py hands every POST /slack/events here and turns the answer into a
Flask response; this module knows Bolt but not Flask."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping

from slack_bolt import App, BoltResponse
from slack_bolt.context import BoltContext
from slack_bolt.request import BoltRequest
from slack_bolt.request.internals import build_context

from bot.slack import signing
from bot.slack.inbound import BadRequest, check_body

log = logging.getLogger(__name__)

# Set in a request's Bolt context when Slack has had its answer (bot.slack.app reads it).
ACKED = "incidentbot_acked"


def _refusal(status: int, error: str, reason: str) -> BoltResponse:
    return BoltResponse(status=status, body=json.dumps({"error": error, "reason": reason}),
                        headers={"content-type": "application/json"})


class SlackHttp:
    def __init__(self, bolt: App, signing_secret: str) -> None:
        self.bolt = bolt
        self.signing_secret = signing_secret

    def handle(self, body: bytes, headers: Mapping[str, str], query: str = "", *, acked: bool = False) -> BoltResponse:
        """``acked``: the HTTP front (bot/app/front.py) has answered Slack already, so
        an acknowledgement that carries a message goes to the request's response_url."""
        refused = signing.refusal(self.signing_secret, body, headers)
        if refused:
            return _refusal(401, "Unauthorized", refused)
        try:
            parsed = check_body(body, headers.get("Content-Type"))
        except BadRequest as exc:
            # One line and no traceback: the reason names the field, never its value
            # (payloads carry what people typed).
            log.warning("refused a signed Slack request: %s", exc.reason)
            return _refusal(400, "Bad Request", exc.reason)
        # Built empty, then given our parse: Bolt guesses a body's encoding from its
        # text (a slash command whose text says "payload" would reach the listeners as
        # an empty interaction, one that starts with "{" as broken JSON); ours goes by
        # Content-Type. The raw body stays for Bolt's own signature check.
        request = BoltRequest(body="", query=query, headers=dict(headers))
        request.raw_body = body.decode("utf-8")
        request.body = parsed
        request.context = build_context(BoltContext(), parsed)
        if acked:
            request.context[ACKED] = True
        return self.bolt.dispatch(request)
