"""The `incidentbot` command: serve, console, check-config."""

from __future__ import annotations

import argparse
import json
import sys

from bot import config, runbooks
from bot.app import logs
from bot.text import plural


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="incidentbot", description="ChatOps incident bot for Kafka and RabbitMQ.")
    parser.add_argument("--config", metavar="FILE", help="YAML file with settings (env vars override it)")
    # Accepted after the subcommand too; SUPPRESS keeps it from overwriting a value given before.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", metavar="FILE", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("serve", parents=[common], help="run the HTTP service: Slack events, alert webhooks, /healthz, /readyz, /metrics, escalation timers")
    console = sub.add_parser(
        "console", parents=[common],
        help="try the bot without Slack: type slash commands, see what it posts (local Slack stand-in)",
    )
    console.add_argument("--user", default="U0ALICE", help="the Slack user you act as (default U0ALICE)")
    console.add_argument("--channel", default="C0INCIDENTS", help="the channel you type in (default #incidents)")
    sub.add_parser("check-config", parents=[common], help="validate the configuration and print it with secrets masked")
    return parser


def _people_problems(settings: config.Settings) -> list[str]:
    """The configured user and user-group ids Slack does not know, or why they were
    not checked: checking the configuration must work without Slack."""
    from bot.app import people
    from bot.chat import ChatError
    from bot.slack.chat import SlackChat
    from bot.slack.client import make_client

    if not people.configured(settings):
        return []
    token = settings.slack.bot_token
    if token is None:
        return ["Slack user and user-group ids not checked: slack.bot_token is not set"]
    chat = SlackChat(make_client(token.get_secret_value(), settings.slack.api_url, timeout=5, retries=False))
    try:
        return people.unknown(chat, settings)
    except ChatError as exc:
        why = "Slack cannot be reached" if exc.code == "connection_error" else f"Slack answered `{exc.code}`"
        return [f"Slack user and user-group ids not checked: {why}"]


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = config.load(args.config)
    except config.ConfigError as exc:
        print(f"incidentbot: {exc}".replace("\n", "\nincidentbot: "), file=sys.stderr)
        return 2
    try:
        books = runbooks.load_all(extra=settings.runbooks_dir)  # a broken runbook stops every command, with its file and field
    except runbooks.RunbookError as exc:
        print(f"incidentbot: runbook error: {exc}", file=sys.stderr)
        return 2
    if args.command == "check-config":
        print(json.dumps(config.masked(settings), indent=2))
        print(f"configuration OK; {plural(len(books), 'runbook')} valid ({', '.join(books)})", file=sys.stderr)
        for line in _people_problems(settings):
            print(f"incidentbot: warning: {line}", file=sys.stderr)
        return 0
    logs.setup(settings)
    if args.command == "serve":
        from bot.app.serve import StartupError, serve

        try:
            serve(settings)
        except StartupError as exc:
            print(f"incidentbot: {exc}", file=sys.stderr)
            return 2
        return 0
    from bot.console import run_console

    return run_console(settings, user=args.user, channel=args.channel)


if __name__ == "__main__":
    sys.exit(main())
