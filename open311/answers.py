"""Open311 answers in the format the URL asks for: a JSON array, or the XML
document the spec shapes (<services><service>..., <errors><error>...).

Pure: rows of plain values in, a Response out. XML is the spec's required
format, so an address with no known format is answered in XML.
"""

import json
from collections.abc import Iterable, Mapping
from xml.etree.ElementTree import Element, SubElement, tostring

from flask import Response

FORMATS = ("json", "xml")
XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>\n'

Row = Mapping[str, object]


def _xml_text(value: object) -> str | None:
    if value is None:
        return None  # an empty element: the field is known, it has no value
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def xml_document(root: str, item: str, rows: Iterable[Row]) -> str:
    """<root><item><field>value</field>...</item>...</root>, escaped by ElementTree."""
    top = Element(root)
    for row in rows:
        node = SubElement(top, item)
        for name, value in row.items():
            SubElement(node, name).text = _xml_text(value)
    return XML_DECLARATION + tostring(top, encoding="unicode")


def answer(
    fmt: str, root: str, item: str, rows: list[Row], status: int = 200
) -> Response:
    if fmt == "json":
        body = json.dumps(rows, ensure_ascii=False)
        return Response(body, status, content_type="application/json")
    return Response(
        xml_document(root, item, rows),
        status,
        content_type="text/xml; charset=utf-8",
    )


def error(fmt: str, status: int, description: str) -> Response:
    """The spec's error list: [{"code", "description"}] with the HTTP status."""
    if fmt not in FORMATS:
        fmt = "xml"
    rows = [{"code": status, "description": description}]
    return answer(fmt, "errors", "error", rows, status)
