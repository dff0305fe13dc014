"""Input checks that run before any XML parser sees a pin map.

Normalises the input to UTF-8 bytes, enforces the byte limit, and scans the prolog (everything
before the root element) so that a document type declaration -- and with it every DTD, entity
declaration, billion-laughs payload and external entity -- is refused without being parsed.
"""

from __future__ import annotations

import codecs
import re

from pinbroker.errors import PinMapParseError, PinMapTooLargeError
from pinbroker.pinmap._limits import ParseLimits

__all__ = ["namespace_patch", "prepare_input"]

_DECLARATION = re.compile(rb"<\?xml[^>]*?\?>")
_ENCODING = re.compile(rb"""(\sencoding\s*=\s*)(["'])[^"']*\2""")
_WHITESPACE = b" \t\r\n"
_START_TAG = re.compile(rb"<[^\s/>!?][^\s/>]*(?:\s+[^\s=/>]+\s*=\s*(?:\"[^\"]*\"|'[^']*'))*\s*/?>")
_DEFAULT_NAMESPACE = re.compile(
    rb"\sxmlns\s*=\s*([\"'])http://www\.ni\.com/TestStand/SemiconductorModule/PinMap\.xsd\1"
)
_MARKUP = re.compile(rb"<!--.*?-->|<!\[CDATA\[.*?\]\]>|<\?.*?\?>", re.DOTALL)

# BOMs of encodings that are not ASCII-compatible; UTF-32 before UTF-16 (UTF-32-LE starts with
# the UTF-16-LE BOM).
_WIDE_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def prepare_input(xml: str | bytes, limits: ParseLimits, source: str | None) -> bytes:
    """Return the document as UTF-8 bytes after the size and prolog checks.

    Args:
        xml: The pin map text, or its bytes in any encoding XML allows.
        limits: The limits to enforce.
        source: Where the XML came from, for error messages.

    Returns:
        The document encoded as UTF-8 (with an XML declaration, if any, saying so).

    Raises:
        PinMapTooLargeError: The document is larger than ``limits.max_bytes``.
        PinMapParseError: The document is empty, cannot be decoded, or has a document type
            declaration.
    """
    if isinstance(xml, str):
        data = _to_utf8(xml, limits, source)
    else:
        data = bytes(xml)
        _check_size(len(data), limits, source)
        wide = _wide_encoding(data)
        if wide is not None:
            try:
                text = data.decode(wide)
            except UnicodeDecodeError as exc:
                raise PinMapParseError(
                    f"cannot decode pin map as {wide}: {exc.reason}", source=source
                ) from None
            data = _to_utf8(text, limits, source)
    _scan_prolog(data, source)
    _check_element_count(data, limits, source)
    return data


def _check_size(size: int, limits: ParseLimits, source: str | None) -> None:
    if size > limits.max_bytes:
        where = f"{source}: " if source else ""
        raise PinMapTooLargeError(
            f"{where}pin map is {size} bytes, more than the limit max_bytes={limits.max_bytes}"
        )


def _wide_encoding(data: bytes) -> str | None:
    for bom, name in _WIDE_BOMS:
        if data.startswith(bom):
            return name
    if data[:4] in (b"\x00\x00\x00<", b"<\x00\x00\x00"):
        return "utf-32-be" if data[0] == 0 else "utf-32-le"
    if data[:2] in (b"\x00<", b"<\x00"):
        return "utf-16-be" if data[0] == 0 else "utf-16-le"
    return None


def _to_utf8(text: str, limits: ParseLimits, source: str | None) -> bytes:
    # Cheap bound first: a str of n code points is at least n UTF-8 bytes.
    _check_size(len(text), limits, source)
    try:
        data = text.lstrip("\ufeff").encode("utf-8")
    except UnicodeEncodeError as exc:
        raise PinMapParseError(
            f"pin map text is not valid Unicode: {exc.reason}", source=source
        ) from None
    _check_size(len(data), limits, source)
    declaration = _DECLARATION.match(data)
    if declaration is not None:
        fixed = _ENCODING.sub(rb'\1"utf-8"', declaration.group(0))
        data = fixed + data[declaration.end() :]
    return data


def _scan_prolog(data: bytes, source: str | None) -> int:
    """Refuse a DOCTYPE (or any other markup declaration) before the root element.

    Returns:
        The offset of the root element's '<' (or of whatever the XML parser will complain
        about).
    """
    size = len(data)
    i = len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0
    while True:
        while i < size and data[i] in _WHITESPACE:
            i += 1
        if i >= size:
            raise PinMapParseError(
                "pin map has no root element", line=_line_at(data, i), source=source
            )
        if data.startswith(b"<?", i):
            end = data.find(b"?>", i + 2)
            if end < 0:
                return i  # unterminated: the XML parser reports it with its line
            i = end + 2
        elif data.startswith(b"<!--", i):
            end = data.find(b"-->", i + 4)
            if end < 0:
                return i
            i = end + 3
        elif data.startswith(b"<!", i):
            raise PinMapParseError(
                "DTDs are not allowed in pin maps (found a <!DOCTYPE or other declaration)",
                line=_line_at(data, i),
                source=source,
            )
        else:
            return i


def _check_element_count(data: bytes, limits: ParseLimits, source: str | None) -> None:
    """Refuse at C speed a document with more start tags than ``max_elements`` allows.

    Every '<' opens a start tag, an end tag (``</``) or markup (``<!``, ``<?``): raw '<' cannot
    appear in text or attribute values, only inside comments, CDATA sections and processing
    instructions -- which are cut out before a refusal. The parser still counts exactly; this
    spares it walking millions of elements first.
    """
    if data.count(b"<") <= limits.max_elements:
        return  # every element has at least one '<'
    start_tags = _start_tags(data)
    if start_tags > limits.max_elements and (b"<!" in data or b"<?" in data):
        start_tags = _start_tags(_MARKUP.sub(b"", data))
    if start_tags > limits.max_elements:
        where = f"{source}: " if source else ""
        raise PinMapTooLargeError(
            f"{where}pin map: about {start_tags} elements, more than "
            f"max_elements={limits.max_elements}"
        )


def namespace_patch(data: bytes) -> tuple[int, int, bytes] | None:
    """Find the root's ``xmlns="<pin map namespace>"`` and a blank of the same length for it.

    The reader matches pin map elements in the pin map namespace and in no namespace alike;
    parsing with the declaration blanked, lxml hands it plain tag names instead of building a
    ``{namespace}Name`` string for every element, which saves about a tenth of the parse.
    Lengths and line breaks are unchanged, so positions and line numbers are too.

    Returns:
        (start, end, replacement) for ``data[start:end]``, or None when there is nothing to do.
    """
    try:
        root = _scan_prolog(data, None)
    except PinMapParseError:
        return None
    tag = _START_TAG.match(data, root)
    if tag is None:
        return None
    declaration = _DEFAULT_NAMESPACE.search(data, root, tag.end())
    if declaration is None or b"\n" in declaration.group(0):
        return None
    start, end = declaration.span()
    return start, end, b' xmlns=""'.ljust(end - start)


def _start_tags(data: bytes) -> int:
    return data.count(b"<") - data.count(b"</") - data.count(b"<!") - data.count(b"<?")


def _line_at(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1
