"""xcolor colour expressions (`red`, `gray!20`, `blue!30!white`, defined colours) to CSS hex."""

from __future__ import annotations

import re

RGB = tuple[float, float, float]

# xcolor's base colours plus the dvipsnames/svgnames that LLM tables use most.
_NAMED: dict[str, str] = {
    "red": "ff0000",
    "green": "00ff00",
    "blue": "0000ff",
    "cyan": "00ffff",
    "magenta": "ff00ff",
    "yellow": "ffff00",
    "black": "000000",
    "white": "ffffff",
    "gray": "808080",
    "grey": "808080",
    "darkgray": "404040",
    "lightgray": "bfbfbf",
    "brown": "bf8040",
    "lime": "bfff00",
    "olive": "808000",
    "orange": "ff8000",
    "pink": "ffbfbf",
    "purple": "bf0040",
    "teal": "008080",
    "violet": "800080",
    # dvipsnames
    "apricot": "fbb982",
    "aquamarine": "00b5be",
    "bittersweet": "c04f17",
    "bluegreen": "00b3b8",
    "brickred": "b6321c",
    "burntorange": "f7921d",
    "cadetblue": "74729a",
    "cerulean": "00a2e3",
    "cornflowerblue": "41b0e4",
    "dandelion": "fdbc42",
    "emerald": "00a99d",
    "forestgreen": "009b55",
    "goldenrod": "ffdf42",
    "junglegreen": "00a99a",
    "lavender": "f49ec4",
    "limegreen": "8dc73e",
    "mahogany": "a9341f",
    "maroon": "af3235",
    "melon": "f89e7b",
    "midnightblue": "006795",
    "navyblue": "006eb8",
    "olivegreen": "3c8031",
    "orangered": "ed135a",
    "orchid": "af72b0",
    "peach": "f7965a",
    "periwinkle": "7977b8",
    "pinegreen": "008b72",
    "plum": "92268f",
    "processblue": "00b0f0",
    "rawsienna": "974006",
    "redorange": "f26035",
    "redviolet": "a1246b",
    "royalblue": "0071bc",
    "royalpurple": "613f99",
    "salmon": "f69289",
    "seagreen": "3fbc9d",
    "sepia": "671800",
    "skyblue": "46c5dd",
    "springgreen": "c6dc67",
    "tan": "da9d76",
    "tealblue": "00aeb3",
    "thistle": "d883b7",
    "turquoise": "00b4ce",
    "wildstrawberry": "ee2967",
    "yellowgreen": "98cc70",
    "yelloworange": "faa21a",
    # svgnames seen in LLM tables
    "aliceblue": "f0f8ff",
    "beige": "f5f5dc",
    "coral": "ff7f50",
    "crimson": "dc143c",
    "darkblue": "00008b",
    "darkgreen": "006400",
    "darkred": "8b0000",
    "gold": "ffd700",
    "honeydew": "f0fff0",
    "indigo": "4b0082",
    "ivory": "fffff0",
    "khaki": "f0e68c",
    "lightblue": "add8e6",
    "lightcyan": "e0ffff",
    "lightgreen": "90ee90",
    "lightyellow": "ffffe0",
    "mintcream": "f5fffa",
    "navy": "000080",
    "seashell": "fff5ee",
    "silver": "c0c0c0",
    "steelblue": "4682b4",
    "tomato": "ff6347",
    "wheat": "f5deb3",
    "whitesmoke": "f5f5f5",
    "lavenderblush": "fff0f5",
    # more svgnames (x11names such as DarkOrange3 fall back to their svgnames base)
    "antiquewhite": "faebd7",
    "azure": "f0ffff",
    "blanchedalmond": "ffebcd",
    "blueviolet": "8a2be2",
    "burlywood": "deb887",
    "chartreuse": "7fff00",
    "chocolate": "d2691e",
    "cornsilk": "fff8dc",
    "darkcyan": "008b8b",
    "darkgoldenrod": "b8860b",
    "darkgrey": "a9a9a9",
    "darkkhaki": "bdb76b",
    "darkmagenta": "8b008b",
    "darkolivegreen": "556b2f",
    "darkorange": "ff8c00",
    "darkorchid": "9932cc",
    "darksalmon": "e9967a",
    "darkseagreen": "8fbc8f",
    "darkslateblue": "483d8b",
    "darkslategray": "2f4f4f",
    "darkslategrey": "2f4f4f",
    "darkturquoise": "00ced1",
    "darkviolet": "9400d3",
    "deeppink": "ff1493",
    "deepskyblue": "00bfff",
    "dimgray": "696969",
    "dimgrey": "696969",
    "dodgerblue": "1e90ff",
    "firebrick": "b22222",
    "floralwhite": "fffaf0",
    "fuchsia": "ff00ff",
    "gainsboro": "dcdcdc",
    "ghostwhite": "f8f8ff",
    "greenyellow": "adff2f",
    "hotpink": "ff69b4",
    "indianred": "cd5c5c",
    "lawngreen": "7cfc00",
    "lemonchiffon": "fffacd",
    "lightcoral": "f08080",
    "lightgoldenrodyellow": "fafad2",
    "lightgrey": "d3d3d3",
    "lightpink": "ffb6c1",
    "lightsalmon": "ffa07a",
    "lightseagreen": "20b2aa",
    "lightskyblue": "87cefa",
    "lightslategray": "778899",
    "lightsteelblue": "b0c4de",
    "linen": "faf0e6",
    "mediumaquamarine": "66cdaa",
    "mediumblue": "0000cd",
    "mediumorchid": "ba55d3",
    "mediumpurple": "9370db",
    "mediumseagreen": "3cb371",
    "mediumslateblue": "7b68ee",
    "mediumspringgreen": "00fa9a",
    "mediumturquoise": "48d1cc",
    "mediumvioletred": "c71585",
    "mistyrose": "ffe4e1",
    "moccasin": "ffe4b5",
    "navajowhite": "ffdead",
    "oldlace": "fdf5e6",
    "olivedrab": "6b8e23",
    "orchid1": "ff83fa",
    "palegoldenrod": "eee8aa",
    "palegreen": "98fb98",
    "paleturquoise": "afeeee",
    "palevioletred": "db7093",
    "papayawhip": "ffefd5",
    "peachpuff": "ffdab9",
    "peru": "cd853f",
    "powderblue": "b0e0e6",
    "rosybrown": "bc8f8f",
    "saddlebrown": "8b4513",
    "sandybrown": "f4a460",
    "sienna": "a0522d",
    "slateblue": "6a5acd",
    "slategray": "708090",
    "slategrey": "708090",
    "snow": "fffafa",
    "aqua": "00ffff",
    "lightgoldenrod": "eedd82",
}


def _hex_to_rgb(code: str) -> RGB:
    return (int(code[0:2], 16) / 255, int(code[2:4], 16) / 255, int(code[4:6], 16) / 255)


def _css_to_rgb(css: str) -> RGB:
    return _hex_to_rgb(css.lstrip("#"))


def rgb_to_css(rgb: RGB) -> str:
    return "#" + "".join(f"{int(max(0.0, min(1.0, c)) * 255 + 0.5):02x}" for c in rgb)


class ColorBook:
    """The colours known to one document: xcolor's names plus its `\\definecolor`s."""

    def __init__(self) -> None:
        self._defined: dict[str, RGB] = {}

    def define(self, name: str, model: str, spec: str) -> None:
        """Adds a `\\definecolor{name}{model}{spec}`; raises ValueError on a bad spec."""
        model = model.strip()
        parts = [p.strip() for p in re.split(r"[,\s]+", spec.strip()) if p.strip()]
        if model == "HTML":
            if not re.fullmatch(r"[0-9A-Fa-f]{6}", spec.strip()):
                raise ValueError(f"HTML colour needs six hex digits, got {spec!r}")
            rgb = _hex_to_rgb(spec.strip())
        elif model == "rgb" and len(parts) == 3:
            rgb = (float(parts[0]), float(parts[1]), float(parts[2]))
        elif model == "RGB" and len(parts) == 3:
            rgb = (int(parts[0]) / 255, int(parts[1]) / 255, int(parts[2]) / 255)
        elif model == "gray" and len(parts) == 1:
            level = float(parts[0])
            rgb = (level, level, level)
        elif model == "cmyk" and len(parts) == 4:
            c, m, y, k = (float(p) for p in parts)
            rgb = ((1 - c) * (1 - k), (1 - m) * (1 - k), (1 - y) * (1 - k))
        else:
            raise ValueError(f"unsupported colour model {model!r} with {spec!r}")
        self._defined[name.strip().lower()] = rgb

    def _base(self, name: str) -> RGB:
        key = name.strip().lower()
        if key in self._defined:
            return self._defined[key]
        if key in _NAMED:
            return _hex_to_rgb(_NAMED[key])
        raise ValueError(f"unknown colour {name!r}")

    def approximate(self, expression: str) -> str:
        """The nearest colour we can name for an expression `resolve` refused: each unknown
        name becomes its svgnames base (DarkOrange3 → darkorange) or black, mixing kept."""
        parts = expression.strip().lstrip("-").split("!")
        known: list[str] = []
        for index, part in enumerate(parts):
            if index % 2 == 1:
                number = re.sub(r"[^0-9.]", "", part)
                known.append(number or "50")
                continue
            base = re.sub(r"[0-9]+$", "", part.strip()).lower()
            known.append(base if base in self._defined or base in _NAMED else "black")
        try:
            return self.resolve("!".join(known))
        except ValueError:
            return "#000000"

    def resolve(self, expression: str, model: str | None = None) -> str:
        """CSS colour for an xcolor expression such as `blue!20!white` or `[HTML]{FFCC00}`."""
        expression = expression.strip()
        if model:
            scratch = ColorBook()
            scratch.define("x", model, expression)
            return rgb_to_css(scratch._base("x"))
        if expression.startswith("-"):  # xcolor's complement of the rest
            red, green, blue = _css_to_rgb(self.resolve(expression[1:]))
            return rgb_to_css((1 - red, 1 - green, 1 - blue))
        parts = expression.split("!")
        if not parts[0]:
            raise ValueError(f"unsupported colour expression {expression!r}")
        rgb = self._base(parts[0])
        rest = parts[1:]
        while rest:
            try:
                share = max(0.0, min(100.0, float(rest[0]))) / 100
            except ValueError:
                raise ValueError(
                    f"'{rest[0]}' in colour {expression!r} is not a percentage"
                ) from None
            other = self._base(rest[1]) if len(rest) > 1 else (1.0, 1.0, 1.0)
            rgb = tuple(share * a + (1 - share) * b for a, b in zip(rgb, other, strict=True))  # type: ignore[assignment]
            rest = rest[2:]
        return rgb_to_css(rgb)
