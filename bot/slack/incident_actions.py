"""The buttons of incident messages and the App Home tab. Every handler answers
Slack at once and does its work on the incident's queue."""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING, Any

from slack_bolt import Ack, App

from bot.incidents import flows, service
from bot.incidents.model import Incident
from bot.incidents.text import clock, incident_line
from bot.slack import blocks
from bot.slack.ids import Action, parse_step_value
from bot.slack.interaction import Interaction, slack_may_refuse

if TYPE_CHECKING:
    from bot.app.context import BotContext


def _who(body: dict[str, Any]) -> tuple[str, str]:
    who = Interaction.of(body)
    return who.user, who.channel


def _tell(ctx: BotContext, channel: str, user: str, text: str, incident: Incident | None = None) -> None:
    thread = incident.thread_ts if incident and incident.channel == channel else None
    ctx.slack.chat_postEphemeral(channel=channel, user=user, text=text, thread_ts=thread)


def register(app: App, ctx: BotContext) -> None:
    def incident_of(value: str) -> Incident | None:
        return service.get(ctx.engine, value)

    @app.action(Action.ACKNOWLEDGE)
    @app.action(Action.RESOLVE)
    def on_status(ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        ack()
        user, channel = _who(body)
        ref, acknowledge = action.get("value", ""), action["action_id"] == Action.ACKNOWLEDGE

        # After the acknowledgement (Bolt answers Slack when this handler returns): the
        # change is a database write, which waits its turn behind an alert storm's.
        def press() -> None:
            incident = incident_of(ref)
            if incident is None:
                _tell(ctx, channel, user, "That incident no longer exists.")
                return
            now = time.time()
            if acknowledge:
                change = service.acknowledge(ctx.engine, incident, actor=user, now=now)
            else:
                change = service.resolve(ctx.engine, incident, actor=user, now=now)
            if change.changed:
                flows.announce_change(ctx, change.incident, change.message)
            else:
                _tell(ctx, channel, user, change.message, incident)

        ctx.work.submit(slack_may_refuse(press), key=f"press:{ref}")

    @app.action(Action.RUN_CHECKS)
    def on_run_checks(ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        ack()
        user, channel = _who(body)
        incident = incident_of(action.get("value", ""))
        if incident is not None:
            ctx.work.submit(lambda: flows.run_first_checks(ctx, incident, actor=user), key=flows.key(incident))

    @app.action(re.compile(f"^({Action.RUN_STEP}|{Action.STEP_DONE}):"))
    def on_step(ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        ack()
        user, channel = _who(body)
        ref, step = parse_step_value(action.get("value", ""))
        incident = incident_of(ref)
        if incident is None:
            return
        if action["action_id"].startswith(f"{Action.RUN_STEP}:"):
            ctx.work.submit(lambda: flows.run_step(ctx, incident, step, user), key=flows.key(incident))
            return

        def done() -> None:
            if not flows.mark_done(ctx, incident, step, user):
                _tell(ctx, channel, user, "That step was already marked done.", incident)

        ctx.work.submit(slack_may_refuse(done), key=flows.key(incident))

    @app.event("app_home_opened")
    def on_home(event: dict[str, Any]) -> None:
        user = event.get("user", "")
        ctx.work.submit(slack_may_refuse(lambda: publish_home(ctx, user)))


def publish_home(ctx: BotContext, user: str) -> None:
    now = time.time()
    open_now = service.list_open(ctx.engine)
    lines = [incident_line(i, now, flows.next_step(ctx, i)) for i in open_now]
    body = blocks.sections("\n".join(lines)) if lines else [blocks.section("No incident is open. :sunny:")]
    home = {"type": "home", "blocks": blocks.limit_blocks([
        blocks.header(f"Open incidents ({len(open_now)})"), *body,
        blocks.context(f"Updated {clock(now)}. `/incident list` shows the same in any channel."),
    ])}
    ctx.slack.views_publish(user_id=user, view=home)
