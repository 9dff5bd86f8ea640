"""Byte offsets of elements in an XML document, for adding to it without rewriting it.

An editor's XML written back through an adapter comes out regenerated: whatever the
adapter does not model (FCP7 nests and links, FCPXML titles and compound clips) is lost.
Adding the dub by splicing new elements into the original bytes keeps everything else
byte for byte. Expat reports where each start tag begins and where each end tag begins,
which is all a splice needs.
"""

from __future__ import annotations

import dataclasses
import re
import xml.etree.ElementTree as ET
import xml.parsers.expat
from pathlib import Path

from ..errors import TimelineError


@dataclasses.dataclass(eq=False)
class Node:
    tag: str
    attrs: dict[str, str]
    start: int
    """Byte offset of the start tag's ``<``."""
    end: int = -1
    """Byte offset of the end tag's ``<`` (equal to ``start`` for an empty-element tag)."""
    parent: Node | None = None
    children: list[Node] = dataclasses.field(default_factory=list)
    text: str = ""

    def find(self, tag: str) -> Node | None:
        return next((c for c in self.children if c.tag == tag), None)

    def findall(self, tag: str) -> list[Node]:
        return [c for c in self.children if c.tag == tag]

    def iter(self, tag: str | None = None):
        if tag is None or self.tag == tag:
            yield self
        for child in self.children:
            yield from child.iter(tag)

    @property
    def self_closing(self) -> bool:
        return self.end == self.start


def parse_positions(path: Path) -> tuple[bytes, Node]:
    """The document's bytes and its element tree with byte offsets."""
    data = Path(path).read_bytes()
    parser = xml.parsers.expat.ParserCreate()
    root: list[Node] = []
    stack: list[Node] = []

    def start(tag, attrs):
        node = Node(tag, attrs, parser.CurrentByteIndex, parent=stack[-1] if stack else None)
        if stack:
            stack[-1].children.append(node)
        else:
            root.append(node)
        stack.append(node)

    def end(tag):
        node = stack.pop()
        index = parser.CurrentByteIndex
        # An end tag is reported where it begins; an empty-element tag just past its own "/>".
        empty = not node.children and data[index - 2:index] == b"/>" and _tag_end(data, node.start) == index - 1
        node.end = node.start if empty else index

    def text(data):
        if stack:
            stack[-1].text += data

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = text
    try:
        parser.Parse(data, True)
    except xml.parsers.expat.ExpatError as e:
        raise TimelineError(f"{path}: not valid XML ({e})") from e
    if not root:
        raise TimelineError(f"{path}: empty XML document")
    return data, root[0]


def newline_of(data: bytes) -> str:
    """The document's line ending: old Final Cut exports end lines with a bare CR."""
    if b"\r\n" in data:
        return "\r\n"
    return "\r" if b"\r" in data and b"\n" not in data else "\n"


def indent_of(data: bytes, offset: int) -> str | None:
    """The whitespace before ``offset`` on its line, or None when something else precedes it there."""
    line_start = max(data.rfind(b"\n", 0, offset), data.rfind(b"\r", 0, offset)) + 1
    line = data[line_start:offset]
    if line.strip(b" \t"):
        return None
    return line.decode("ascii")


def _tag_end(data: bytes, start: int) -> int:
    """Offset of the ``>`` that closes the tag starting at ``start`` (quoted ``>`` skipped)."""
    quote = None
    for offset in range(start, len(data)):
        char = data[offset:offset + 1]
        if quote:
            quote = None if char == quote else quote
        elif char in (b'"', b"'"):
            quote = char
        elif char == b">":
            return offset
    raise ValueError("unterminated tag")


def _text(elements: list[ET.Element], indent: str | None, unit: str, newline: str) -> str:
    """The elements one per line at ``indent``, their insides indented by ``unit``; all on the
    current line, unindented, when ``indent`` is None (a document written on one line)."""
    if indent is None:
        return "".join(ET.tostring(e, encoding="unicode") for e in elements)
    parts = []
    for element in elements:
        ET.indent(element, space=unit)
        parts.append(ET.tostring(element, encoding="unicode").replace("\n", newline + indent))
    return (newline + indent).join(parts)


def _unit(data: bytes, parent: Node, outer: str | None) -> str:
    """One level of the document's indentation, as ``parent``'s children show it."""
    for child in parent.children:
        inner = indent_of(data, child.start)
        if inner is not None and outer is not None and inner.startswith(outer) and len(inner) > len(outer):
            return inner[len(outer):]
    above = indent_of(data, parent.parent.start) if parent.parent is not None else None
    if above is not None and outer is not None and outer.startswith(above) and len(outer) > len(above):
        return outer[len(above):]  # the step from its own parent, when it has no children yet
    return "\t" if outer is None or not outer.startswith(" ") else "    "


def append_children(data: bytes, parent: Node, elements: list[ET.Element]) -> tuple[int, int, str]:
    """A splice ``(offset, removed, text)`` making ``elements`` ``parent``'s last children,
    indented as the document is; an empty-element tag (``<gap .../>``) is opened to take them."""
    newline = newline_of(data)
    outer = indent_of(data, parent.start)
    unit = _unit(data, parent, outer)
    inner = None if outer is None else outer + unit
    if parent.self_closing:
        close = _tag_end(data, parent.start)
        slash = data.rfind(b"/", parent.start, close)
        body = _text(elements, inner, unit, newline)
        text = ">" + ("" if inner is None else newline + inner) + body + \
            ("" if outer is None else newline + outer) + f"</{parent.tag}>"
        return slash, close + 1 - slash, text
    closing = indent_of(data, parent.end)
    if closing is None or inner is None:
        return parent.end, 0, _text(elements, None, unit, newline)
    return parent.end, 0, unit + _text(elements, inner, unit, newline) + newline + closing


def insert_before(data: bytes, sibling: Node, elements: list[ET.Element]) -> tuple[int, int, str]:
    """A splice putting ``elements`` just before ``sibling``, at its indentation."""
    newline = newline_of(data)
    indent = indent_of(data, sibling.start)
    unit = _unit(data, sibling, indent) if sibling.children else ("    " if (indent or "").startswith(" ") else "\t")
    if indent is None:
        return sibling.start, 0, _text(elements, None, unit, newline)
    return sibling.start, 0, _text(elements, indent, unit, newline) + newline + indent


def splice(data: bytes, edits: list[tuple[int, int, str]], encoding: str = "utf-8") -> bytes:
    """``data`` with each ``(offset, removed, text)`` edit made; every other byte stays in order."""
    out, cursor = [], 0
    for offset, removed, text in sorted(edits, key=lambda edit: edit[0]):
        if offset < cursor:
            raise ValueError("overlapping edits")
        out += [data[cursor:offset], text.encode(encoding, "xmlcharrefreplace")]
        cursor = offset + removed
    out.append(data[cursor:])
    return b"".join(out)


def declared_encoding(data: bytes, source: Path) -> str:
    """The document's encoding, when it is one that text can be spliced into byte-wise."""
    declared = re.match(rb"<\?xml[^>]*encoding=[\"']([A-Za-z0-9._-]+)[\"']", data.lstrip(b"\xef\xbb\xbf"))
    encoding = declared.group(1).decode().lower() if declared else "utf-8"
    if encoding not in ("utf-8", "utf8", "us-ascii", "ascii", "iso-8859-1", "latin-1", "windows-1252"):
        raise TimelineError(f"{source}: cannot add to an XML document in {encoding}")
    return encoding
