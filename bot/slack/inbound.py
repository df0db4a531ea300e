"""The shape of what Slack sends, checked before Bolt reads it.

Bolt trusts its input: building a request reads `team`, `user`, `channel`,
`authorizations` and the like by key and attribute, and listener matching reads
`actions[0]`, `view["callback_id"]` and `event["type"]` without looking. A body
that lacks one of those, or has a number where an object belongs, crashes inside
Bolt before any handler of ours runs, and the entry point would answer 500. Slack
never sends such a body; whoever does gets a 4xx naming the field.

Both transports use these models: HTTP (bot/app/web.py, after the signature
check) and Socket Mode (bot/slack/socket_mode.py, per envelope).
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal
from urllib.parse import parse_qsl

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictStr, TypeAdapter, ValidationError


class BadRequest(ValueError):
    """The body is not one Slack sends; ``reason`` names the field, never its value."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _Open(BaseModel):
    # Slack adds fields over time; only the ones read before our handlers run are checked.
    model_config = ConfigDict(extra="allow")


class _Ref(_Open):
    """An object Bolt reads an id from (`team`, `user`, `channel`, `enterprise`)."""

    id: StrictStr | None = None


# Bolt accepts these as a plain id or as an object holding one.
Ref = StrictStr | _Ref | None


class _Authorization(_Open):
    enterprise_id: StrictStr | None = None
    team_id: StrictStr | None = None
    is_enterprise_install: bool | None = None


class _ResponseUrl(_Open):
    response_url: StrictStr | None = None


def _nested(value: Any) -> Any:
    # Bolt looks into these (for a user, channel or thread) only when they are objects.
    if isinstance(value, dict):
        _Common.model_validate(value)
    return value


Nested = Annotated[Any, AfterValidator(_nested)]


class _Common(_Open):
    """Fields Bolt reads from every request while building its context."""

    enterprise: Ref = None
    team: Ref = None
    user: Ref = None
    channel: Ref = None
    authorizations: list[_Authorization] | None = None
    response_urls: list[_ResponseUrl] | None = None
    # Read back as the request's thread and response URL; a person's click carries strings.
    thread_ts: StrictStr | None = None
    response_url: StrictStr | None = None
    message: Nested = None
    previous_message: Nested = None
    item: Nested = None
    assistant_thread: Nested = None


class _Event(_Common):
    type: StrictStr


class _Action(_Open):
    action_id: StrictStr
    block_id: StrictStr | None = None
    value: StrictStr | None = None


class _ViewState(_Open):
    # block_id -> action_id -> the element's state
    values: dict[str, dict[str, dict[str, Any]]]


class _View(_Open):
    type: StrictStr
    callback_id: StrictStr
    state: _ViewState
    private_metadata: StrictStr | None = None
    app_installed_team_id: StrictStr | None = None


class BlockActions(_Common):
    type: Literal["block_actions"]
    actions: Annotated[list[_Action], Field(min_length=1)]
    view: _View | None = None
    trigger_id: StrictStr | None = None


class ViewSubmission(_Common):
    type: Literal["view_submission"]
    view: _View


class ViewClosed(_Common):
    type: Literal["view_closed"]
    view: _View


class Shortcut(_Common):
    type: Literal["shortcut"]
    callback_id: StrictStr


class MessageAction(_Common):
    type: Literal["message_action"]
    callback_id: StrictStr


class BlockSuggestion(_Common):
    type: Literal["block_suggestion"]
    action_id: StrictStr


class EventCallback(_Common):
    type: Literal["event_callback"]
    event: _Event


class UrlVerification(_Common):
    type: Literal["url_verification"]
    challenge: StrictStr


class SlashCommand(_Common):
    """A form: every value is a string by construction, so only presence is checked."""

    command: Annotated[StrictStr, Field(pattern=r"^/")]
    text: StrictStr = ""


Interaction = Annotated[BlockActions | ViewSubmission | ViewClosed | Shortcut | MessageAction | BlockSuggestion,
                        Field(discriminator="type")]
Event = Annotated[EventCallback | UrlVerification, Field(discriminator="type")]
_INTERACTION: TypeAdapter[Any] = TypeAdapter(Interaction)
_EVENT: TypeAdapter[Any] = TypeAdapter(Event)
INTERACTION_TYPES = ("block_actions", "view_submission", "view_closed", "shortcut", "message_action",
                     "block_suggestion")
EVENT_TYPES = ("event_callback", "url_verification")


def _reason(exc: ValidationError, where: str) -> str:
    """The first problem, named by its path: `payload.view.type: Field required`."""
    first = exc.errors(include_url=False, include_input=False)[0]
    loc = [str(p) for p in first["loc"]]
    if loc and loc[0] in (*INTERACTION_TYPES, *EVENT_TYPES):
        loc = loc[1:]  # the union's own step: the discriminator's value
    if "values" in loc:
        # A view's state is keyed by the sender's block and action ids: not echoed.
        at = loc.index("values") + 1
        loc[at:at + 2] = ["*" for _ in loc[at:at + 2]]
    if any(p in _REF_BRANCHES for p in loc):  # one branch of `Ref` failed, so both did
        loc = loc[:min(loc.index(p) for p in _REF_BRANCHES if p in loc)]
        return f"{'.'.join([where, *loc])}: must be a string or an object whose `id` is a string"
    path = ".".join([where, *loc])
    if first["type"] == "union_tag_invalid":
        return f"{path}.type: not a type this app handles (one of: {', '.join(_tags(first))})"
    if first["type"] == "union_tag_not_found":
        return f"{path}.type: missing (the payload must say which kind it is)"
    if first["type"] in ("model_type", "dict_type", "model_attributes_type"):
        return f"{path}: must be a JSON object"
    return f"{path}: {first['msg']}"


_REF_BRANCHES = ("str", "_Ref", "none")


def _tags(error: Any) -> list[str]:
    ctx = error.get("ctx") or {}
    expected = str(ctx.get("expected_tags", ""))
    return [t.strip(" '") for t in expected.split(",") if t.strip(" '")]


def _checked(adapter: TypeAdapter[Any], data: Any, where: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise BadRequest(f"{where}: must be a JSON object")
    try:
        adapter.validate_python(data)
    except ValidationError as exc:
        raise BadRequest(_reason(exc, where)) from None
    return data


def check_payload(kind: str, payload: Any) -> dict[str, Any]:
    """One Socket Mode envelope's payload (`kind` is the envelope's type)."""
    if kind == "interactive":
        return _checked(_INTERACTION, payload, "payload")
    if kind == "events_api":
        return _checked(_EVENT, payload, "payload")
    if kind == "slash_commands":
        if not isinstance(payload, dict):
            raise BadRequest("payload: must be a JSON object")
        try:
            SlashCommand.model_validate(payload)
        except ValidationError as exc:
            raise BadRequest(_reason(exc, "payload")) from None
        return payload
    raise BadRequest("type: not an envelope type this app handles (slash_commands, interactive, events_api)")


def check_body(body: bytes, content_type: str | None) -> dict[str, Any]:
    """An HTTP request's body, parsed the way Slack encodes it, and checked.

    Returns what Bolt should see. Bolt's own parser guesses the encoding from the
    text (a body with the word "payload" anywhere is taken for an interaction), so
    the caller hands Bolt this parse rather than letting it guess."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest("body: not UTF-8") from None
    media = (content_type or "").split(";")[0].strip().lower()
    if media == "application/json":
        try:
            data = json.loads(text)
        except ValueError:
            raise BadRequest("body: not JSON") from None
        return _checked(_EVENT, data, "body")
    if media not in ("application/x-www-form-urlencoded", ""):
        raise BadRequest("Content-Type: not one Slack sends "
                         "(application/x-www-form-urlencoded or application/json)")
    try:
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text), max_num_fields=200)
    except ValueError:
        raise BadRequest("body: not a form (application/x-www-form-urlencoded)") from None
    names = [name for name, _ in pairs]
    if len(set(names)) != len(names):
        raise BadRequest("body: a form field appears more than once")
    form = dict(pairs)
    if "payload" in form:
        try:
            payload = json.loads(form["payload"])
        except ValueError:
            raise BadRequest("payload: not JSON") from None
        return _checked(_INTERACTION, payload, "payload")
    try:
        SlashCommand.model_validate(form)
    except ValidationError as exc:
        raise BadRequest(_reason(exc, "form")) from None
    return form


def check_parsed(body: Any) -> dict[str, Any]:
    """A body already parsed, of whichever kind it says it is (Bolt's error path)."""
    if isinstance(body, dict) and "command" in body and "type" not in body:
        return check_payload("slash_commands", body)
    if isinstance(body, dict) and body.get("type") in EVENT_TYPES:
        return check_payload("events_api", body)
    return check_payload("interactive", body)
