"""Block Kit validation against the limits in Slack's Block Kit reference.

Slack rejects a message whose blocks break a documented limit with
``{"ok": false, "error": "invalid_blocks", "errors": [...]}``; each error names
the offending field with a JSON pointer, e.g.
``"must be less than 3001 characters [json-pointer:/blocks/0/text/text]"``.
The stand-in does the same so a bot that would fail in Slack fails locally too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

Surface = Literal["message", "modal", "home"]

MAX_MESSAGE_TEXT = 40_000
MAX_BLOCKS: dict[Surface, int] = {"message": 50, "modal": 100, "home": 100}
MAX_ID = 255

BLOCK_TYPES = frozenset({
    "actions", "context", "context_actions", "divider", "file", "header", "image", "input",
    "markdown", "rich_text", "section", "table", "video",
})
# Elements that carry an action_id (interactive or input elements).
ACTION_ELEMENTS = frozenset({
    "button", "checkboxes", "datepicker", "datetimepicker", "email_text_input",
    "feedback_buttons", "file_input", "icon_button", "multi_channels_select",
    "multi_conversations_select", "multi_external_select", "multi_static_select",
    "multi_users_select", "number_input", "overflow", "plain_text_input", "radio_buttons",
    "rich_text_input", "channels_select", "conversations_select", "external_select",
    "static_select", "users_select", "timepicker", "url_text_input", "workflow_button",
})
ELEMENT_TYPES = ACTION_ELEMENTS | {"image"}
OPTION_LIMITS = {"overflow": 5, "checkboxes": 10, "radio_buttons": 10,
                 "static_select": 100, "multi_static_select": 100}


def message_text_error(text: object) -> str | None:
    """``msg_too_long`` when the top-level text exceeds Slack's 40,000 characters."""
    if isinstance(text, str) and len(text) > MAX_MESSAGE_TEXT:
        return "msg_too_long"
    return None


def block_errors(blocks: object, surface: Surface = "message",
                 pointer: str = "/blocks") -> list[str]:
    """Every limit the blocks break, in Slack's ``"<problem> [json-pointer:...]"`` form."""
    checker = _Checker()
    checker.blocks(blocks, surface, pointer)
    return checker.errors


def view_errors(view: object) -> list[str]:
    """Problems with a modal or home tab view payload (pointers start at ``/view``)."""
    checker = _Checker()
    if not isinstance(view, Mapping):
        return ["must be an object [json-pointer:/view]"]
    kind = view.get("type")
    if kind not in ("modal", "home"):
        checker.fail('must be one of "modal", "home"', "/view/type")
        return checker.errors
    if kind == "modal":
        checker.text(view.get("title"), "/view/title", 24, plain_only=True)
        for key in ("submit", "close"):
            if key in view:
                checker.text(view.get(key), f"/view/{key}", 24, plain_only=True)
        if "submit" not in view and any(isinstance(b, Mapping) and b.get("type") == "input"
                                        for b in view.get("blocks") or []):
            checker.fail("must provide submit when the view has input blocks", "/view/submit")
    checker.max_len(view.get("callback_id"), MAX_ID, "/view/callback_id")
    checker.max_len(view.get("external_id"), MAX_ID, "/view/external_id")
    checker.max_len(view.get("private_metadata"), 3000, "/view/private_metadata")
    checker.blocks(view.get("blocks"), kind, "/view/blocks")
    return checker.errors


class _Checker:
    def __init__(self) -> None:
        self.errors: list[str] = []
        self.action_ids: set[str] = set()
        self.block_ids: set[str] = set()

    def fail(self, problem: str, path: str) -> None:
        self.errors.append(f"{problem} [json-pointer:{path}]")

    def max_len(self, value: object, limit: int, path: str) -> None:
        if value is None:
            return
        if not isinstance(value, str):
            self.fail("must be a string", path)
        elif len(value) > limit:
            self.fail(f"must be less than {limit + 1} characters", path)

    def text(self, obj: object, path: str, limit: int, *, plain_only: bool = False,
             required: bool = True) -> None:
        if obj is None:
            if required:
                self.fail("must provide an object", path)
            return
        if not isinstance(obj, Mapping):
            self.fail("must be an object", path)
            return
        kind = obj.get("type")
        allowed = ("plain_text",) if plain_only else ("plain_text", "mrkdwn")
        if kind not in allowed:
            self.fail(f"must be one of {', '.join(allowed)}", f"{path}/type")
        value = obj.get("text")
        if not isinstance(value, str) or not value:
            self.fail("must be more than 0 characters", f"{path}/text")
        elif len(value) > limit:
            self.fail(f"must be less than {limit + 1} characters", f"{path}/text")

    def items(self, value: object, path: str, *, low: int, high: int) -> Sequence[Any]:
        if not isinstance(value, list):
            self.fail("must provide an array", path)
            return []
        if len(value) < low:
            self.fail(f"must provide at least {low} items", path)
        if len(value) > high:
            self.fail(f"must be no more than {high} items", path)
        return value

    def unique_id(self, value: object, seen: set[str], path: str, what: str) -> None:
        if value is None:
            return
        if not isinstance(value, str) or not value:
            self.fail("must be more than 0 characters", path)
            return
        if len(value) > MAX_ID:
            self.fail(f"must be less than {MAX_ID + 1} characters", path)
        if value in seen:
            self.fail(f'{what} "{value}" is already used; it must be unique', path)
        seen.add(value)

    def blocks(self, blocks: object, surface: Surface, path: str) -> None:
        if blocks is None:
            return
        if not isinstance(blocks, list):
            self.fail("must provide an array", path)
            return
        limit = MAX_BLOCKS[surface]
        if len(blocks) > limit:
            self.fail(f"must be no more than {limit} items", path)
        for i, block in enumerate(blocks):
            self.block(block, f"{path}/{i}")

    def block(self, block: object, path: str) -> None:
        if not isinstance(block, Mapping):
            self.fail("must be an object", path)
            return
        kind = block.get("type")
        if kind not in BLOCK_TYPES:
            self.fail(f"unsupported type: {kind!r}", f"{path}/type")
            return
        self.unique_id(block.get("block_id"), self.block_ids, f"{path}/block_id", "block_id")
        if kind == "section":
            self.section(block, path)
        elif kind == "header":
            self.text(block.get("text"), f"{path}/text", 150, plain_only=True)
        elif kind == "context":
            for i, el in enumerate(self.items(block.get("elements"), f"{path}/elements",
                                              low=1, high=10)):
                self.context_element(el, f"{path}/elements/{i}")
        elif kind == "actions":
            for i, el in enumerate(self.items(block.get("elements"), f"{path}/elements",
                                              low=1, high=25)):
                self.element(el, f"{path}/elements/{i}")
        elif kind == "image":
            self.image(block, path, title=True)
        elif kind == "input":
            self.text(block.get("label"), f"{path}/label", 2000, plain_only=True)
            self.text(block.get("hint"), f"{path}/hint", 2000, plain_only=True, required=False)
            self.element(block.get("element"), f"{path}/element")
        elif kind == "markdown":
            self.max_len(block.get("text"), 12_000, f"{path}/text")
        elif kind == "rich_text":
            self.items(block.get("elements"), f"{path}/elements", low=1, high=10_000)

    def section(self, block: Mapping[str, Any], path: str) -> None:
        has_text, has_fields = "text" in block, "fields" in block
        if not has_text and not has_fields:
            self.fail("must provide either text or fields", path)
        if has_text:
            self.text(block.get("text"), f"{path}/text", 3000)
        if has_fields:
            for i, item in enumerate(self.items(block.get("fields"), f"{path}/fields",
                                                low=1, high=10)):
                self.text(item, f"{path}/fields/{i}", 2000)
        if "accessory" in block:
            self.element(block.get("accessory"), f"{path}/accessory")

    def context_element(self, el: object, path: str) -> None:
        if isinstance(el, Mapping) and el.get("type") == "image":
            self.image(el, path, title=False)
        else:
            self.text(el, path, 3000)

    def image(self, obj: Mapping[str, Any], path: str, *, title: bool) -> None:
        if "image_url" not in obj and "slack_file" not in obj:
            self.fail("must provide image_url or slack_file", path)
        self.max_len(obj.get("image_url"), 3000, f"{path}/image_url")
        alt = obj.get("alt_text")
        if not isinstance(alt, str) or not alt:
            self.fail("must be more than 0 characters", f"{path}/alt_text")
        else:
            self.max_len(alt, 2000, f"{path}/alt_text")
        if title:
            self.text(obj.get("title"), f"{path}/title", 2000, plain_only=True, required=False)

    def element(self, el: object, path: str) -> None:
        if not isinstance(el, Mapping):
            self.fail("must provide an object", path)
            return
        kind = el.get("type")
        if kind not in ELEMENT_TYPES:
            self.fail(f"unsupported type: {kind!r}", f"{path}/type")
            return
        if kind == "image":
            self.image(el, path, title=False)
            return
        self.unique_id(el.get("action_id"), self.action_ids, f"{path}/action_id", "action_id")
        if kind == "button":
            self.text(el.get("text"), f"{path}/text", 75, plain_only=True)
            self.max_len(el.get("value"), 2000, f"{path}/value")
            self.max_len(el.get("url"), 3000, f"{path}/url")
            if "style" in el and el.get("style") not in ("primary", "danger"):
                self.fail('must be one of "primary", "danger"', f"{path}/style")
        if "placeholder" in el:
            self.text(el.get("placeholder"), f"{path}/placeholder", 150, plain_only=True)
        if kind in OPTION_LIMITS and "options" in el:
            options = self.items(el.get("options"), f"{path}/options", low=1,
                                 high=OPTION_LIMITS[kind])
            for i, option in enumerate(options):
                opath = f"{path}/options/{i}"
                if not isinstance(option, Mapping):
                    self.fail("must be an object", opath)
                    continue
                self.text(option.get("text"), f"{opath}/text", 75)
                self.max_len(option.get("value"), 150, f"{opath}/value")
        if "confirm" in el:
            self.confirm(el.get("confirm"), f"{path}/confirm")

    def confirm(self, obj: object, path: str) -> None:
        if not isinstance(obj, Mapping):
            self.fail("must be an object", path)
            return
        self.text(obj.get("title"), f"{path}/title", 100, plain_only=True)
        self.text(obj.get("text"), f"{path}/text", 300)
        self.text(obj.get("confirm"), f"{path}/confirm", 30, plain_only=True)
        self.text(obj.get("deny"), f"{path}/deny", 30, plain_only=True)
