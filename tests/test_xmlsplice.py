"""Splicing elements into an XML document without touching a byte of what was there."""

import xml.etree.ElementTree as ET

import pytest

from s2l_dub.errors import TimelineError
from s2l_dub.timeline.xmlsplice import (
    append_children,
    insert_before,
    parse_positions,
    splice,
)


def _spliced(tmp_path, text: str, edit) -> str:
    path = tmp_path / "doc.xml"
    path.write_bytes(text.encode())
    data, root = parse_positions(path)
    return splice(data, [edit(data, root)]).decode()


def test_children_go_in_at_the_documents_own_indentation(tmp_path):
    text = "<a>\n  <b>\n    <c/>\n  </b>\n</a>\n"
    out = _spliced(tmp_path, text, lambda d, r: append_children(d, r.find("b"), [ET.Element("new")]))
    assert out == "<a>\n  <b>\n    <c/>\n    <new />\n  </b>\n</a>\n"
    out = _spliced(tmp_path, text, lambda d, r: insert_before(d, r.find("b").find("c"), [ET.Element("new")]))
    assert out == "<a>\n  <b>\n    <new />\n    <c/>\n  </b>\n</a>\n"


def test_an_empty_element_is_opened_and_old_mac_line_ends_kept(tmp_path):
    out = _spliced(tmp_path, "<a>\r  <b x='>'/>\r</a>", lambda d, r: append_children(d, r.find("b"), [ET.Element("n")]))
    assert out == "<a>\r  <b x='>'>\r    <n />\r  </b>\r</a>"
    out = _spliced(tmp_path, "<a><b/></a>", lambda d, r: append_children(d, r.find("b"), [ET.Element("n")]))
    assert out == "<a><b><n /></b></a>"  # a document on one line stays on one line


def test_broken_xml_is_one_line_naming_the_file(tmp_path):
    (tmp_path / "bad.xml").write_text("<a><b></a>")
    with pytest.raises(TimelineError, match="bad.xml: not valid XML"):
        parse_positions(tmp_path / "bad.xml")
