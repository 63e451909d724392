"""Keep only drawing from an SVG: known shape and text elements, presentation attributes,
and links that point inside the picture. No scripts, handlers, foreign content or URLs."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ElementTree

SVG = "http://www.w3.org/2000/svg"
XLINK = "http://www.w3.org/1999/xlink"
ELEMENTS = {
    "svg",
    "g",
    "path",
    "rect",
    "circle",
    "ellipse",
    "line",
    "polyline",
    "polygon",
    "text",
    "tspan",
    "defs",
    "use",
    "symbol",
    "clipPath",
    "linearGradient",
    "radialGradient",
    "stop",
    "mask",
    "pattern",
    "marker",
    "title",
    "desc",
}
ATTRIBUTES = {
    "width",
    "height",
    "viewBox",
    "x",
    "y",
    "x1",
    "y1",
    "x2",
    "y2",
    "cx",
    "cy",
    "r",
    "rx",
    "ry",
    "d",
    "points",
    "transform",
    "fill",
    "fill-opacity",
    "fill-rule",
    "stroke",
    "stroke-width",
    "stroke-linecap",
    "stroke-linejoin",
    "stroke-miterlimit",
    "stroke-dasharray",
    "stroke-dashoffset",
    "stroke-opacity",
    "opacity",
    "font-family",
    "font-size",
    "font-weight",
    "font-style",
    "text-anchor",
    "dominant-baseline",
    "id",
    "clip-path",
    "clip-rule",
    "mask",
    "marker-start",
    "marker-mid",
    "marker-end",
    "offset",
    "stop-color",
    "stop-opacity",
    "gradientUnits",
    "gradientTransform",
    "patternUnits",
    "preserveAspectRatio",
    "dx",
    "dy",
    "letter-spacing",
    "word-spacing",
    "markerWidth",
    "markerHeight",
    "refX",
    "refY",
    "orient",
    "href",
    "class",
}
_URL = re.compile(r"url\(\s*['\"]?(?!#)", re.IGNORECASE)


def _local(name: str) -> str:
    return name.rsplit("}", 1)[-1]


def _clean(element: ElementTree.Element) -> None:
    for child in list(element):
        if _local(child.tag) not in ELEMENTS:
            element.remove(child)
            continue
        _clean(child)
    for name in list(element.attrib):
        local = _local(name)
        value = element.attrib[name]
        allowed = local in ATTRIBUTES and not local.lower().startswith("on")
        if local == "href" and not value.startswith("#"):
            allowed = False
        if _URL.search(value):
            allowed = False
        if not allowed:
            del element.attrib[name]


def sanitize_svg(markup: str) -> str:
    """The SVG with only drawing left; raises ValueError when it is not SVG at all."""
    if "<!DOCTYPE" in markup or "<!ENTITY" in markup:
        raise ValueError("SVG with a DTD is refused (entity expansion)")
    ElementTree.register_namespace("", SVG)
    ElementTree.register_namespace("xlink", XLINK)
    try:
        root = ElementTree.fromstring(markup)
    except ElementTree.ParseError as error:
        raise ValueError(f"not well-formed SVG: {error}") from None
    if _local(root.tag) != "svg":
        raise ValueError("not an SVG document")
    _clean(root)
    return ElementTree.tostring(root, encoding="unicode")
