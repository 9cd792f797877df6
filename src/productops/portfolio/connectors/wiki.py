"""Jira wiki markup (Jira Server/Data Center descriptions and Jira CSV exports) rendered as
Markdown-like text: headings, emphasis, lists, code and quote blocks, links and tables keep
their meaning; colours, panels and macros give their text. The result is shown escaped."""

from __future__ import annotations

import re

MAX_CHARS = 200_000
_SAFE = ("http://", "https://", "mailto:")

_BLOCK = re.compile(r"\{(code|noformat)(?::[^}]*)?\}(.*?)\{\1\}", re.DOTALL)
_QUOTE = re.compile(r"\{quote\}(.*?)\{quote\}", re.DOTALL)
_MACRO = re.compile(r"\{(?:color|panel|anchor|section|column)(?::[^}]*)?\}")
_HEADING = re.compile(r"^h([1-6])\.\s*", re.MULTILINE)
_BQ = re.compile(r"^bq\.\s*", re.MULTILINE)
_LIST = re.compile(r"^([*#-]+)\s+", re.MULTILINE)
_LINK = re.compile(r"\[([^\[\]|]*)\|([^\[\]]*)\]")
_BARE_LINK = re.compile(r"\[((?:https?://|mailto:)[^\[\]|\s]+)\]")
_MENTION = re.compile(r"\[~(?:accountid:)?([^\]]+)\]")
_IMAGE = re.compile(r"!([^!\s|][^!|]*?)(?:\|[^!]*)?!")
_MONO = re.compile(r"\{\{(.+?)\}\}")
_BOLD = re.compile(r"(?<![\w*])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![\w*])")
_STRIKE = re.compile(r"(?<![\w-])-(?=\S)([^-\n]+?)(?<=\S)-(?![\w-])")
_UNDER = re.compile(r"(?<![\w+])\+(?=\S)([^+\n]+?)(?<=\S)\+(?![\w+])")
_SUPSUB = re.compile(r"(?<![\w^~])([\^~])(?=\S)([^\^~\n]+?)(?<=\S)\1(?![\w^~])")
_TABLE_HEAD = re.compile(r"^\|\|(.*)\|\|\s*$", re.MULTILINE)


def wiki_to_text(markup: str | None) -> str:
    """Markdown-like text of Jira wiki markup ("" for None)."""
    if not markup:
        return ""
    text = markup.replace("\r\n", "\n").replace("\r", "\n")[: MAX_CHARS * 2]
    blocks: list[str] = []

    def keep(match: re.Match[str]) -> str:
        blocks.append("```\n" + match.group(2).strip("\n") + "\n```")
        return f"\x00{len(blocks) - 1}\x00"

    text = _BLOCK.sub(keep, text)
    text = _QUOTE.sub(
        lambda m: "\n".join("> " + ln for ln in m.group(1).strip().splitlines()), text
    )
    text = _MACRO.sub("", text).replace("{color}", "").replace("{panel}", "")
    text = _LIST.sub(_list_marker, text)
    text = _HEADING.sub(lambda m: "#" * int(m.group(1)) + " ", text)
    text = _BQ.sub("> ", text)
    text = _TABLE_HEAD.sub(lambda m: _header_row(m.group(1)), text)
    text = _MENTION.sub(r"@\1", text)
    text = _LINK.sub(_link, text)
    text = _BARE_LINK.sub(r"\1", text)
    text = _IMAGE.sub(lambda m: f"[image: {m.group(1)}]", text)
    text = _MONO.sub(r"`\1`", text)
    text = _BOLD.sub(r"**\1**", text)
    text = _STRIKE.sub(r"~~\1~~", text)
    text = _UNDER.sub(r"\1", text)
    text = _SUPSUB.sub(r"\2", text)
    text = text.replace("\\\\", "\n").replace("----", "---")
    for i, block in enumerate(blocks):
        text = text.replace(f"\x00{i}\x00", block)
    return text.strip()[:MAX_CHARS]


def _header_row(cells: str) -> str:
    names = [c.strip() for c in cells.split("||")]
    return "| " + " | ".join(names) + " |\n|" + "---|" * len(names)


def _list_marker(match: re.Match[str]) -> str:
    marks = match.group(1)
    if set(marks) == {"-"} and len(marks) > 1:
        return match.group(0)  # a rule or a dash run, not a list
    indent = "  " * (len(marks) - 1)
    return indent + ("1. " if marks[-1] == "#" else "- ")


def _link(match: re.Match[str]) -> str:
    label, target = match.group(1).strip(), match.group(2).strip()
    if target.lower().startswith(_SAFE):
        return f"[{label or target}]({target})"
    return label or target
