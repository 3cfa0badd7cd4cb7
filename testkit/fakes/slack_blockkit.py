"""Block Kit validation for the Slack fake: the limits a chat bot is likely to hit.

Errors are real-Slack-style strings, ``"<problem> [json-pointer:/blocks/0/text/text]"``;
an empty list means valid.  Sources (docs.slack.dev/reference/block-kit/...):

* blocks/context-actions-block: ``context_actions`` holds 1..5 ``feedback_buttons`` /
  ``icon_button`` elements.
* block-elements/feedback-buttons-element: ``positive_button`` and ``negative_button``
  are required, each ``{text: plain_text <= 75, value <= 2000 (required),
  accessibility_label <= 75}``; the element must be inside a context actions block.
* block-elements/icon-button-element: ``icon`` (only ``trash`` exists today) and a
  plain_text ``text`` are required; ``value`` <= 2000, ``accessibility_label`` <= 75,
  ``visible_to_user_ids`` an array of user ids; only inside a context actions block.
* views/home-tab-views: a Home tab holds at most 100 blocks (messages: 50).
"""

from __future__ import annotations

from typing import Any

__all__ = ["MESSAGE_BLOCK_TYPES", "validate_blocks"]

MESSAGE_BLOCK_TYPES = {
    "actions", "context", "divider", "file", "header", "image", "input", "markdown",
    "rich_text", "section", "video", "table", "context_actions", "card", "task_card", "plan",
}
_CONTEXT_ACTIONS_ONLY = ("feedback_buttons", "icon_button")
_ICONS = ("trash",)


def validate_blocks(blocks: Any, *, max_blocks: int = 50, pointer: str = "/blocks") -> list[str]:
    """Problems with a ``blocks`` array, as Slack words them (empty when valid).

    ``max_blocks`` is 50 for messages and 100 for views; ``pointer`` is where the
    array sits in the request (``/view/blocks`` for views.publish).
    """
    return _BlockChecker(pointer).check(blocks, max_blocks)


class _BlockChecker:
    def __init__(self, pointer: str):
        self.root = pointer
        self.errors: list[str] = []
        self.markdown_total = 0
        self.block_ids: set[str] = set()

    def e(self, msg: str, ptr: str) -> None:
        self.errors.append(f"{msg} [json-pointer:{ptr}]")

    # ------------------------------------------------------------------ the array
    def check(self, blocks: Any, max_blocks: int) -> list[str]:
        if not isinstance(blocks, list):
            self.e("must be an array", self.root)
            return self.errors
        if len(blocks) > max_blocks:
            self.e(f"no more than {max_blocks} items allowed", self.root)
        for i, b in enumerate(blocks):
            self.block(b, f"{self.root}/{i}")
        if self.markdown_total > 12000:
            self.e("cumulative length of markdown blocks must be less than 12001 characters", self.root)
        return self.errors

    def block(self, b: Any, p: str) -> None:
        if not isinstance(b, dict):
            self.e("must be an object", p)
            return
        t = b.get("type")
        if t not in MESSAGE_BLOCK_TYPES:
            self.e(f"unsupported type: {t}", p + "/type")
            return
        self.unique_id(b.get("block_id"), self.block_ids, p + "/block_id", "block_id")
        check = getattr(self, f"block_{t}", None)
        if check is not None:
            check(b, p, set())

    # ------------------------------------------------------------------ shared parts
    def text_obj(self, obj: Any, ptr: str, max_len: int | None, types=("plain_text", "mrkdwn")) -> None:
        if not isinstance(obj, dict):
            self.e("must be an object", ptr)
            return
        if obj.get("type") not in types:
            self.e(f"must be one of {list(types)}", ptr + "/type")
        t = obj.get("text")
        if not isinstance(t, str):
            self.e("must provide a string", ptr + "/text")
        elif len(t) == 0:
            self.e("must be more than 0 characters", ptr + "/text")
        elif max_len is not None and len(t) > max_len:
            self.e(f"must be less than {max_len + 1} characters", ptr + "/text")

    def string(self, value: Any, ptr: str, max_len: int, required: bool = False) -> None:
        if value is None:
            if required:
                self.e("must provide a string", ptr)
            return
        if not isinstance(value, str):
            self.e("must provide a string", ptr)
        elif len(value) > max_len:
            self.e(f"must be less than {max_len + 1} characters", ptr)

    def unique_id(self, value: Any, seen: set[str], ptr: str, name: str) -> None:
        """block_id / action_id: a string of at most 255 characters, unique within its scope."""
        if value is None:
            return
        if not isinstance(value, str) or len(value) > 255:
            self.e("must be less than 256 characters", ptr)
        elif value in seen:
            self.e(f"duplicate {name}", ptr)
        else:
            seen.add(value)

    def elements(self, block: dict, ptr: str, most: int) -> list:
        """A block's `elements` (1..most items) as (index, element); [] after reporting a bad list."""
        els = block.get("elements")
        if not isinstance(els, list) or not els:
            self.e("must provide at least 1 item", ptr + "/elements")
            return []
        if len(els) > most:
            self.e(f"no more than {most} items allowed", ptr + "/elements")
            return []
        return list(enumerate(els))

    # ------------------------------------------------------------------ elements
    def element(self, el: Any, ptr: str, action_ids: set[str], in_context_actions: bool = False) -> None:
        if not isinstance(el, dict) or "type" not in el:
            self.e("must provide an object with a type", ptr)
            return
        kind = el["type"]
        if (kind in _CONTEXT_ACTIONS_ONLY) != in_context_actions:
            allowed = list(_CONTEXT_ACTIONS_ONLY) if in_context_actions else None
            self.e(f"must be one of {allowed}" if allowed else f"unsupported type: {kind}", ptr + "/type")
            return
        self.unique_id(el.get("action_id"), action_ids, ptr + "/action_id", "action_id")
        check = getattr(self, f"element_{kind}", None)
        if check is not None:
            check(el, ptr)

    def element_button(self, el: dict, ptr: str) -> None:
        self.text_obj(el.get("text"), ptr + "/text", 75, types=("plain_text",))
        self.string(el.get("value"), ptr + "/value", 2000)
        self.string(el.get("url"), ptr + "/url", 3000)
        st = el.get("style")
        if st is not None and st not in ("primary", "danger"):
            self.e("must be one of [primary, danger]", ptr + "/style")

    def element_feedback_buttons(self, el: dict, ptr: str) -> None:
        for side in ("positive_button", "negative_button"):
            button = el.get(side)
            if not isinstance(button, dict):
                self.e("must provide an object", f"{ptr}/{side}")
                continue
            self.text_obj(button.get("text"), f"{ptr}/{side}/text", 75, types=("plain_text",))
            self.string(button.get("value"), f"{ptr}/{side}/value", 2000, required=True)
            self.string(button.get("accessibility_label"), f"{ptr}/{side}/accessibility_label", 75)

    def element_icon_button(self, el: dict, ptr: str) -> None:
        if el.get("icon") not in _ICONS:
            self.e(f"must be one of {list(_ICONS)}", ptr + "/icon")
        self.text_obj(el.get("text"), ptr + "/text", None, types=("plain_text",))
        self.string(el.get("value"), ptr + "/value", 2000)
        self.string(el.get("accessibility_label"), ptr + "/accessibility_label", 75)
        ids = el.get("visible_to_user_ids")
        if ids is not None and not (isinstance(ids, list) and all(isinstance(u, str) for u in ids)):
            self.e("must provide an array of strings", ptr + "/visible_to_user_ids")
        if "confirm" in el and not isinstance(el["confirm"], dict):
            self.e("must provide an object", ptr + "/confirm")

    # ------------------------------------------------------------------ blocks
    def block_section(self, b: dict, p: str, action_ids: set[str]) -> None:
        if "text" not in b and "fields" not in b:
            self.e("must provide either text or fields", p)
        if "text" in b:
            self.text_obj(b["text"], p + "/text", 3000)
        if "fields" in b:
            fields = b["fields"]
            if not isinstance(fields, list) or len(fields) > 10:
                self.e("no more than 10 items allowed", p + "/fields")
            else:
                for j, f in enumerate(fields):
                    self.text_obj(f, f"{p}/fields/{j}", 2000)
        if "accessory" in b:
            self.element(b["accessory"], p + "/accessory", action_ids)

    def block_header(self, b: dict, p: str, action_ids: set[str]) -> None:
        self.text_obj(b.get("text"), p + "/text", 150, types=("plain_text",))

    def block_markdown(self, b: dict, p: str, action_ids: set[str]) -> None:
        txt = b.get("text")
        if not isinstance(txt, str) or not txt:
            self.e("must be more than 0 characters", p + "/text")
            return
        if len(txt) > 12000:
            self.e("must be less than 12001 characters", p + "/text")
        self.markdown_total += len(txt)

    def block_context(self, b: dict, p: str, action_ids: set[str]) -> None:
        for j, el in self.elements(b, p, 10):
            if isinstance(el, dict) and el.get("type") in ("plain_text", "mrkdwn"):
                self.text_obj(el, f"{p}/elements/{j}", 3000)
            elif not (isinstance(el, dict) and el.get("type") == "image"):
                self.e("must be one of [image, plain_text, mrkdwn]", f"{p}/elements/{j}/type")

    def block_actions(self, b: dict, p: str, action_ids: set[str]) -> None:
        for j, el in self.elements(b, p, 25):
            self.element(el, f"{p}/elements/{j}", action_ids)

    def block_context_actions(self, b: dict, p: str, action_ids: set[str]) -> None:
        for j, el in self.elements(b, p, 5):
            self.element(el, f"{p}/elements/{j}", action_ids, in_context_actions=True)

    def block_image(self, b: dict, p: str, action_ids: set[str]) -> None:
        if not (b.get("image_url") or b.get("slack_file")):
            self.e("must provide image_url or slack_file", p)
        if not isinstance(b.get("alt_text"), str) or not b.get("alt_text"):
            self.e("must provide alt_text", p + "/alt_text")

    def block_rich_text(self, b: dict, p: str, action_ids: set[str]) -> None:
        if not isinstance(b.get("elements"), list):
            self.e("must provide an array", p + "/elements")
