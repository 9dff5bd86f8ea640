"""Who speaks each cue, as the dubbing script says (issue 25).

Dubbing scripts name the character of each line: ASS/SSA in the event's Name field, WebVTT
with ``<v Name>``, TTML with ``ttm:agent``, and SRT by convention with a leading ``NAME:``
(capitals) or ``[Name]``. A cue with dialogue dashes holds two speakers and names none here.
Pure text functions: which actor a character is comes from the actors file.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

_LABEL_COLON = re.compile(r"^\s*([A-Z][A-Z0-9 .'\-]{0,29}[A-Z0-9.])\s*:\s+(\S.*)$", re.S)
"""``ANNA: text`` (capitals, as scripts write character names); ``Note: text`` is not a label."""
_LABEL_BRACKET = re.compile(r"^\s*\[([^\[\]\n]{1,30})\]\s*(\S.*)$", re.S)
_DASHES = re.compile(r"(^|\n)\s*[-\u2010-\u2014]\s*\S")
_VOICE = re.compile(r"<v(?:\.[\w.-]+)?\s+([^>]+)>")
_VTT_TIMING = re.compile(r"^\s*((?:\d+:)?\d+:\d+\.\d+)\s*-->\s*((?:\d+:)?\d+:\d+\.\d+)")
_TTML_METADATA = "http://www.w3.org/ns/ttml#metadata"
_XML_ID = "{http://www.w3.org/XML/1998/namespace}id"


def split_label(text: str) -> tuple[str, str]:
    """``(speaker, text without the label)`` for a cue's plain text; speaker ``""`` when none is named
    or when dialogue dashes put two speakers in one cue."""
    if len(_DASHES.findall(text)) > 1:
        return "", text
    for pattern in (_LABEL_BRACKET, _LABEL_COLON):
        found = pattern.match(text)
        if found:
            return found.group(1).strip(), found.group(2).strip()
    return "", text


def vtt_voices(text: str) -> dict[tuple[int, int], str]:
    """Each WebVTT cue's ``<v Name>`` by its (start, end) in milliseconds (pysubs2 drops the tag)."""
    voices: dict[tuple[int, int], str] = {}
    timing = None
    for line in text.splitlines():
        found = _VTT_TIMING.match(line)
        if found:
            timing = (_vtt_ms(found.group(1)), _vtt_ms(found.group(2)))
            continue
        if not line.strip():
            timing = None
            continue
        voice = _VOICE.search(line)
        if timing is not None and voice and timing not in voices:
            voices[timing] = voice.group(1).strip()
    return voices


def _vtt_ms(stamp: str) -> int:
    parts = [float(p) for p in stamp.split(":")]
    seconds = sum(value * 60 ** power for power, value in enumerate(reversed(parts)))
    return round(seconds * 1000)


def ttml_agents(text: str) -> list[str]:
    """The speaking agent of each ``<p>`` of a TTML document, in document order (``""`` for none):
    the agent's ``ttm:name`` where it has one, else its id."""
    root = ET.fromstring(text)
    names = {}
    for agent in root.iter(f"{{{_TTML_METADATA}}}agent"):
        name = agent.find(f"{{{_TTML_METADATA}}}name")
        names[agent.get(_XML_ID, "")] = (name.text or "").strip() if name is not None and name.text else ""
    speakers = []

    def walk(element: ET.Element, inherited: str) -> None:
        agent = element.get(f"{{{_TTML_METADATA}}}agent", inherited)
        if element.tag.rsplit("}", 1)[-1] == "p":
            first = agent.split()[0] if agent.split() else ""
            speakers.append((names.get(first) or first) if len(agent.split()) == 1 else "")
            return
        for child in element:
            walk(child, agent)

    walk(root, "")
    return speakers


def script_speakers(path: Path, events: list) -> list[str]:
    """The speaker the script names for each of ``events`` (pysubs2 events read from ``path``, in
    file order), and the label left out of their text where it was written into it."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in (".ass", ".ssa"):
        return [event.name.strip() for event in events]
    if suffix == ".vtt":
        voices = vtt_voices(path.read_text(encoding="utf-8-sig", errors="replace"))
        return [voices.get((event.start, event.end), "") for event in events]
    if suffix in (".ttml", ".dfxp", ".xml"):
        try:
            agents = ttml_agents(path.read_text(encoding="utf-8-sig", errors="replace"))
        except ET.ParseError:
            return [""] * len(events)
        return agents if len(agents) == len(events) else [""] * len(events)
    return [split_label(event.plaintext)[0] for event in events]
