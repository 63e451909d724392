"""siunitx: `\\num`, `\\SI`, `\\si`, `\\qty`, `\\unit`, `\\ang` as the text siunitx would print."""

from __future__ import annotations

import re

UNITS = {
    "meter": "m",
    "metre": "m",
    "second": "s",
    "kilogram": "kg",
    "gram": "g",
    "ampere": "A",
    "kelvin": "K",
    "mole": "mol",
    "candela": "cd",
    "hertz": "Hz",
    "newton": "N",
    "pascal": "Pa",
    "joule": "J",
    "watt": "W",
    "coulomb": "C",
    "volt": "V",
    "ohm": "Ω",
    "farad": "F",
    "siemens": "S",
    "weber": "Wb",
    "tesla": "T",
    "henry": "H",
    "lumen": "lm",
    "lux": "lx",
    "becquerel": "Bq",
    "gray": "Gy",
    "sievert": "Sv",
    "katal": "kat",
    "celsius": "°C",
    "degreeCelsius": "°C",
    "hour": "h",
    "minute": "min",
    "day": "d",
    "litre": "L",
    "liter": "L",
    "tonne": "t",
    "hectare": "ha",
    "percent": "%",
    "degree": "°",
    "byte": "B",
    "bit": "bit",
    "electronvolt": "eV",
    "bar": "bar",
    "decibel": "dB",
    "dalton": "Da",
    "astronomicalunit": "au",
    "arcminute": "′",
    "arcsecond": "″",
    "angstrom": "Å",
    "neper": "Np",
    "bel": "B",
    "knot": "kn",
    "mmHg": "mmHg",
    "radian": "rad",
    "steradian": "sr",
    "dollar": "$",
    "euro": "€",
}
PREFIXES = {
    "yocto": "y",
    "zepto": "z",
    "atto": "a",
    "femto": "f",
    "pico": "p",
    "nano": "n",
    "micro": "µ",
    "milli": "m",
    "centi": "c",
    "deci": "d",
    "deca": "da",
    "deka": "da",
    "hecto": "h",
    "kilo": "k",
    "mega": "M",
    "giga": "G",
    "tera": "T",
    "peta": "P",
    "exa": "E",
    "zetta": "Z",
    "yotta": "Y",
}
_SUPERSCRIPTS = str.maketrans("0123456789-+", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻⁺")


def format_number(text: str) -> str:
    """12345.678 → '12 345.678'; 1.2e3 → '1.2 × 10³'; ranges of ± kept."""
    text = text.strip().replace("+-", "±").replace("\\pm", "±")
    if "±" in text:
        return " ± ".join(format_number(part) for part in text.split("±"))
    match = re.fullmatch(r"([-+]?)(\d*)(?:[.,](\d+))?(?:[eE]([-+]?\d+))?", text.replace(" ", ""))
    if match is None:
        return text
    sign, integer, fraction, exponent = match.groups()
    sign = "−" if sign == "-" else ""
    if len(integer) >= 5:
        integer = f"{int(integer):,}".replace(",", "\u2009")
    number = sign + (integer or "0") + (f".{fraction}" if fraction else "")
    if exponent:
        power = str(int(exponent)).translate(_SUPERSCRIPTS)
        number = f"{number} × 10{power}" if integer or fraction else f"10{power}"
    return number


def format_unit(text: str) -> str:
    """`\\kilo\\meter\\per\\second\\squared` → 'km/s²'; literal 'm/s^2' → 'm/s²'."""
    tokens = re.findall(r"\\([A-Za-z]+)|(\^\{?-?\d+\}?)|([^\\^]+)", text)
    if not any(name for name, _, _ in tokens):
        literal = re.sub(r"\^\{?(-?\d+)\}?", lambda m: m.group(1).translate(_SUPERSCRIPTS), text)
        return literal.replace("~", "\u2009").replace(".", "·").strip()
    numerator: list[str] = []
    denominator: list[str] = []
    last = numerator  # where the most recent unit went: \squared applies to it
    prefix, power_next, per = "", "", False
    for name, power, literal in tokens:
        if power:
            if last:
                last[-1] += re.sub(r"[{}^]", "", power).translate(_SUPERSCRIPTS)
        elif literal:
            if literal.strip():
                last = denominator if per else numerator
                last.append(literal.strip())
                per = False
        elif name == "per":
            per = True
        elif name in ("square", "cubic"):
            power_next = "²" if name == "square" else "³"
        elif name in ("squared", "cubed"):
            if last:
                last[-1] += "²" if name == "squared" else "³"
        elif name in PREFIXES:
            prefix += PREFIXES[name]
        else:
            last = denominator if per else numerator
            last.append(prefix + UNITS.get(name, name) + power_next)
            prefix, power_next, per = "", "", False
    unit = "\u2009".join(numerator)
    if denominator:
        unit += "/" + "\u2009".join(denominator)
    return unit


def quantity(number: str, unit: str) -> str:
    formatted_unit = format_unit(unit)
    joiner = "" if formatted_unit in ("%", "°", "′", "″") else "\u2009"
    return f"{format_number(number)}{joiner}{formatted_unit}"
