"""Slack messages as a person reads them in a terminal: Block Kit turned into
plain lines, with every button numbered so it can be pressed by typing its number."""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Button:
    number: int
    label: str
    action: dict[str, Any]  # action_id, block_id, value, as Slack sends them back
    channel: str
    message_ts: str


def _text(obj: dict[str, Any] | None) -> str:
    return html.unescape(obj.get("text", "")) if obj else ""


class Renderer:
    def __init__(self) -> None:
        self.buttons: list[Button] = []

    def button(self, element: dict[str, Any], block_id: str | None, channel: str, ts: str) -> str:
        number = len(self.buttons) + 1
        action = {
            "type": "button",
            "action_id": element.get("action_id", ""),
            "block_id": block_id or "",
            "value": element.get("value", ""),
            "text": element.get("text", {}),
        }
        self.buttons.append(Button(number, _text(element.get("text")), action, channel, ts))
        style = {"primary": "*", "danger": "!"}.get(element.get("style", ""), "")
        return f"[{number}] {style}{_text(element.get('text'))}{style}"

    def blocks(self, blocks: list[dict[str, Any]], channel: str, ts: str) -> list[str]:
        lines: list[str] = []
        for block in blocks:
            kind, block_id = block.get("type"), block.get("block_id")
            if kind == "header":
                lines.append(f"== {_text(block.get('text'))} ==")
            elif kind == "section":
                if block.get("text"):
                    lines.extend(_text(block["text"]).splitlines())
                for f in block.get("fields", []):
                    lines.append("  " + " ".join(_text(f).split("\n")))
                accessory = block.get("accessory")
                if accessory and accessory.get("type") == "button":
                    lines.append("  " + self.button(accessory, block_id, channel, ts))
            elif kind == "context":
                lines.append("  " + "  ·  ".join(_text(e) for e in block.get("elements", []) if "text" in e))
            elif kind == "divider":
                lines.append("-" * 60)
            elif kind == "actions":
                shown = [self.button(e, block_id, channel, ts) for e in block.get("elements", []) if e.get("type") == "button"]
                lines.append("  " + "   ".join(shown))
            elif kind == "image":
                lines.append(f"[image: {block.get('alt_text', '')}]")
            else:
                lines.append(f"[{kind} block]")
        return lines

    def message(self, where: str, text: str, blocks: list[dict[str, Any]] | None, channel: str, ts: str) -> str:
        body = self.blocks(blocks, channel, ts) if blocks else html.unescape(text).splitlines()
        return "\n".join([where, *("  │ " + line for line in body)])
