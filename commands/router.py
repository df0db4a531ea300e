"""Which command a slash command means. Every command is registered on its own
(`/incident`) and also reachable through the umbrella (`/ops incident ...`), because
slash command names collide between apps in one workspace."""

from __future__ import annotations

from commands.base import CommandSpec, Invocation, UsageError


def resolve(
    registry: dict[str, CommandSpec], umbrella: str, slash: str, text: str
) -> tuple[CommandSpec, str]:
    """The command spec and the text meant for it, from what Slack sent."""
    name = slash.lstrip("/")
    if slash == umbrella:
        first, _, rest = text.strip().partition(" ")
        if not first or first == "help":
            return registry["help"], rest
        name, text = first.lower(), rest
    spec = registry.get(name)
    if spec is None:
        known = ", ".join(sorted(n for n in registry if n != "help"))
        raise UsageError(f"I don't know `{name}`. Commands: {known}. Try `{umbrella} help`.")
    return spec, text.strip()


def invocation(payload: dict[str, str], spec: CommandSpec, text: str) -> Invocation:
    return Invocation(
        command=spec.name,
        text=text,
        user_id=payload.get("user_id", ""),
        user_name=payload.get("user_name"),
        channel_id=payload.get("channel_id", ""),
        channel_name=payload.get("channel_name"),
        team_id=payload.get("team_id"),
        response_url=payload.get("response_url"),
        trigger_id=payload.get("trigger_id"),
        thread_ts=payload.get("thread_ts") or None,
    )
