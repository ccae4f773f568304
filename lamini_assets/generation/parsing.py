"""Teacher text -> generated instructions.

Reading order:
1. `<example>...</example>` blocks (tags in any case, spaces inside the tags allowed). A block
   whose closing tag is missing runs to the next `<example>` or to the end of the text, so a reply
   cut off mid-example still yields its earlier examples.
2. Without any tag: a numbered or bulleted list (`1.`, `1)`, `- `, `* `, `• `); lines that are not
   items continue the item above. Text before the first item ("Here are 20 examples:") is ignored.
3. Otherwise nothing: the caller counts the reply as unparseable.

Each example is then split into instruction and input, mirroring the `instruction:input` form the
prompt shows (see `split_instruction_input`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_OPEN_TAG = re.compile(r"<\s*example\s*>", re.IGNORECASE)
_CLOSE_TAG = re.compile(r"<\s*/\s*example\s*>", re.IGNORECASE)
_LIST_ITEM = re.compile(r"^\s*(?:\d{1,3}\s*[.)]|[-*•])\s+(?P<text>\S.*)$")
_INSTRUCTION_LABEL = re.compile(r"^\s*instruction\s*:\s*", re.IGNORECASE)
_INPUT_LABEL = re.compile(r"\n\s*input\s*:\s*", re.IGNORECASE)
_WORD = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)?")


@dataclass(frozen=True)
class GeneratedInstruction:
    instruction: str
    input: str  # "" when the example has no input part
    complete: bool  # False for a trailing example whose closing tag never came


def _tagged_blocks(text: str) -> list[tuple[str, bool]]:
    """(content, closed) of each <example> block."""
    opens = list(_OPEN_TAG.finditer(text))
    blocks: list[tuple[str, bool]] = []
    for number, match in enumerate(opens):
        end = opens[number + 1].start() if number + 1 < len(opens) else len(text)
        body = text[match.end() : end]
        close = _CLOSE_TAG.search(body)
        blocks.append((body[: close.start()] if close else body, close is not None))
    return blocks


def _list_items(text: str) -> list[str]:
    items: list[list[str]] = []
    for line in text.splitlines():
        match = _LIST_ITEM.match(line)
        if match:
            items.append([match.group("text")])
        elif items and line.strip():
            items[-1].append(line.strip())
    return ["\n".join(lines) for lines in items]


def _looks_like_instruction_head(head: str) -> bool:
    """A head worth splitting at: one line of at least two words, starting with a letter (or a
    quote) and ending with a letter, quote or closing bracket - not `Note`, `Step 1`, `http`."""
    if "\n" in head or len(_WORD.findall(head)) < 2:
        return False
    return (head[0].isalpha() or head[0] in "\"'") and (head[-1].isalpha() or head[-1] in "\"')]")


def split_instruction_input(text: str) -> tuple[str, str]:
    """Split an `instruction:input` example.

    - A leading `Instruction:` label is removed; a line starting with `Input:` splits there.
    - Otherwise the split is at the first colon only, and only when the text after it is not empty,
      the colon is not inside a number or time (`10:30`, `3:1`) nor a URL (`://`), and the head
      looks like an instruction (see `_looks_like_instruction_head`). Anything else stays one
      instruction with an empty input.
    """
    text = _INSTRUCTION_LABEL.sub("", text.strip(), count=1)
    labelled = _INPUT_LABEL.search(text)
    if labelled:
        return text[: labelled.start()].strip(), text[labelled.end() :].strip()
    colon = text.find(":")
    if colon <= 0:
        return text, ""
    before, after = text[colon - 1], text[colon + 1 : colon + 2]
    if (before.isdigit() and after.isdigit()) or text.startswith("//", colon + 1):
        return text, ""
    head, tail = text[:colon].strip(), text[colon + 1 :].strip()
    if not tail or not _looks_like_instruction_head(head):
        return text, ""
    return head, tail


def parse_generated_instructions(text: str) -> list[GeneratedInstruction]:
    """The examples of one generation reply, in order; empty examples are skipped."""
    blocks = _tagged_blocks(text)
    if not blocks:
        blocks = [(item, True) for item in _list_items(text)]
    parsed: list[GeneratedInstruction] = []
    for body, closed in blocks:
        instruction, input_text = split_instruction_input(body)
        if instruction:
            parsed.append(GeneratedInstruction(instruction, input_text, closed))
    return parsed


def instruction_rows(text: str, finish_reason: str) -> list[dict[str, str]]:
    """Rows (instruction, input, finish_reason) of one reply, ready for the filters.

    Like Self-Instruct, a reply cut off by the length limit loses only its last example: the
    examples before it were finished ("stop"); the last row carries the reply's finish reason.
    """
    parsed = parse_generated_instructions(text)
    rows = [{"instruction": p.instruction, "input": p.input, "finish_reason": "stop"} for p in parsed]
    if rows:
        rows[-1]["finish_reason"] = finish_reason
    return rows
