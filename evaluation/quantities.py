"""Lengths and clock directions stated in free text, read as metres and clock hours.

Rules (docs/evaluation.md, "The judge"):
- spelled numbers count with a unit ("one and a half meters", "half a meter", "a foot and a half",
  "twenty-five centimeters"); digits may come without one and are then read as metres;
- "5 feet 6 inches" / 5'6" is one length; "2-3 meters", "2 to 3 m", "between 2 and 3 meters" are the
  midpoint; with several lengths, the first whose clause names the asked quantity ("tall", "wide",
  "apart", ...) wins, else the first;
- a clock hour is "<h> o'clock" (any apostrophe, "oclock", "o clock"), "<h>:<mm>", a range of hours,
  "<n> degrees to the left/right", or plain directions ("straight ahead" 12, "to the right" 3,
  "behind" 6, "front left" 10.5, ...)."""
from __future__ import annotations

import re

from evaluation.relations import REGION_REF

_SMALL = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
          "fifteen sixteen seventeen eighteen nineteen").split()
_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80,
         "ninety": 90}
_WORD_VALUE = {**{w: i for i, w in enumerate(_SMALL)}, **_TENS}
_NUMBER_WORD = "|".join(sorted([*_WORD_VALUE, "hundred", "thousand"], key=len, reverse=True))
_WORD_RUN = re.compile(rf"\b(?:{_NUMBER_WORD})(?:(?:\s+|-)(?:{_NUMBER_WORD}))*\b", re.IGNORECASE)

NUMBER = r"(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|\.\d+"
# Surface form -> metres. Longer forms first so "mm" is never read as "m" and "feet" never as "f...".
_UNITS: tuple[tuple[str, float], ...] = (
    (r"kilomet(?:er|re)s?|km", 1000.0), (r"centimet(?:er|re)s?|cms?", 0.01),
    (r"millimet(?:er|re)s?|mm", 0.001), (r"met(?:er|re)s?|mtrs?|m", 1.0), (r"yards?|yds?", 0.9144),
    (r"feet|foot|ft|'|′", 0.3048),
    # a bare "in" is only a unit at the end of a clause or before a dimension word ("30 in tall")
    (r"inch(?:es)?|in(?=\s*(?:[.,;:!?)]|$|tall|wide|high|long|deep|thick|away|apart))|\"|″|”", 0.0254),
)
UNIT = "|".join(f"(?:{form})" for form, _ in _UNITS)
_UNIT_WORDS = (r"(?:kilomet(?:er|re)s?|centimet(?:er|re)s?|millimet(?:er|re)s?|met(?:er|re)s?|yards?|feet|foot"
               r"|inch(?:es)?)")
_END = r"(?![\w'])"  # a unit ends at a word boundary (also after the symbols ' and ")

_RANGE = re.compile(
    rf"(?:between\s+(?P<a1>{NUMBER})\s*(?P<ua1>{UNIT})?{_END}\s+and\s+(?P<b1>{NUMBER})\s*-?\s*(?P<ub1>{UNIT}){_END})"
    rf"|(?:(?P<a2>{NUMBER})\s*(?P<ua2>{UNIT})?{_END}\s*(?:-|–|—|to|or)\s*"
    rf"(?P<b2>{NUMBER})\s*-?\s*(?P<ub2>{UNIT}){_END})",
    re.IGNORECASE)
_INCH = r"(?:inch(?:es)?|in\b|\"|″|”)"
# "5 feet 6 inches", "5 ft, 6 in", 5'6", and "6 foot 3" (inches without a unit only before a clause end)
_FEET_INCHES = re.compile(
    rf"(?P<ft>{NUMBER})\s*(?:(?:feet|foot|ft)\.?\s*(?:,\s*|and\s+)?(?P<inch>{NUMBER})\s*"
    rf"(?:{_INCH}|(?=\s*(?:[,;!?)]|\.(?!\d)|$|tall|high)))"
    rf"|['′]\s*(?P<inch2>{NUMBER})\s*{_INCH}?)", re.IGNORECASE)
# "1 meter 20 centimeters", "2 metres 50"
_METRES_CM = re.compile(
    rf"(?P<m>{NUMBER})\s*(?:met(?:er|re)s?|m)\s+(?:and\s+)?(?P<cm>\d{{1,2}})\s*"
    rf"(?:(?:centimet(?:er|re)s?|cms?){_END}|(?=\s*(?:[;!?)]|\.(?!\d)|$)))", re.IGNORECASE)
_SINGLE = re.compile(rf"(?<![\w.])(?P<n>{NUMBER})\s*-?\s*(?P<u>{UNIT}){_END}", re.IGNORECASE)
# a number without a unit: only before the end of a clause or a dimension word ("about 2.", "3 apart")
_BARE = re.compile(rf"(?<![\w.\[#])(?P<n>{NUMBER})"
                   r"(?=\s*(?:[.,;:!?)]|$|(?:tall|wide|high|long|deep|away|apart|across)\b))")

# The words that name each asked quantity, to pick the right length when an answer states several:
# the first tier that some length's clause names wins ("vertically 0.5 m" beats "2 m apart").
QUANTITY_WORDS: dict[str, tuple[tuple[str, ...], ...]] = {
    "height": (("tall", "high", "height"),),
    "width": (("wide", "width", "across", "broad"),),
    "direct_distance": (("apart", "away", "distance", "far", "from"),),
    "horizontal_distance": (("horizontal",), ("apart", "away", "distance", "far")),
    "vertical_distance": (("vertical", "higher", "lower", "above", "below"), ("apart",)),
}
_CLAUSE_END = re.compile(r"[.;!?](?=\s|$)|,(?=\s)|\s(?:and|but|while|whereas)\s", re.IGNORECASE)


_VULGAR = {"½": 0.5, "¼": 0.25, "¾": 0.75, "⅓": 1 / 3}


def _number(text: str) -> float:
    return float(text.replace(",", ""))


def _metres_per(unit: str) -> float:
    for form, metres in _UNITS:
        if re.fullmatch(form, unit, re.IGNORECASE):
            return metres
    raise ValueError(f"unknown unit {unit!r}")


def _word_run_value(run: str) -> int:
    total, current = 0, 0
    for word in re.split(r"[\s-]+", run.lower()):
        if word == "hundred":
            current = (current or 1) * 100
        elif word == "thousand":
            total, current = total + (current or 1) * 1000, 0
        else:
            current += _WORD_VALUE[word]
    return total + current


def spelled_to_digits(text: str) -> str:
    """'one and a half meters' -> '1.5 meters', 'half a meter' -> '0.5 meter', 'a foot' -> '1 foot';
    also '1½' -> '1.5' and a decimal comma before a unit ('1,5 m' -> '1.5 m')."""
    text = re.sub(r"(\d*)\s*([½¼¾⅓])", lambda m: f"{int(m.group(1) or 0) + _VULGAR[m.group(2)]:g}", text)
    text = re.sub(rf"(?<![\d,.])(\d+),(\d{{1,2}})(?=\s*-?\s*(?:{UNIT}){_END})", r"\1.\2", text, flags=re.I)
    text = re.sub(r"\ba hundred\b", "one hundred", text, flags=re.IGNORECASE)
    text = _WORD_RUN.sub(lambda m: str(_word_run_value(m.group(0))), text)
    text = re.sub(r"(\d+) point (\d+)", r"\1.\2", text)
    text = re.sub(rf"\b(?:a|an)\s+(?={_UNIT_WORDS}\s+and\s+a\s+half\b)", "1 ", text, flags=re.I)
    fractions = (("half", 0.5), ("quarter", 0.25), ("third", 1 / 3))
    for word, value in fractions:
        # "2 meters and a half" -> "2.5 meters"; "2 and a half meters" -> "2.5 meters"
        text = re.sub(rf"(\d+(?:\.\d+)?)(\s*{_UNIT_WORDS})\s+and\s+a\s+{word}\b",
                      lambda m, v=value: f"{float(m.group(1)) + v:g}{m.group(2)}", text, flags=re.I)
        text = re.sub(rf"(\d+(?:\.\d+)?)[\s-]+and[\s-]+an?[\s-]+{word}\b",
                      lambda m, v=value: f"{float(m.group(1)) + v:g}", text, flags=re.I)
        text = re.sub(rf"\b(?:an?\s+)?{word}\s+(?:(?:of\s+)?an?\s+)?(?={_UNIT_WORDS}\b)", f"{value:g} ", text,
                      flags=re.I)
    text = re.sub(r"(\d+)\s+(\d+)/(\d+)", lambda m: f"{int(m.group(1)) + int(m.group(2)) / int(m.group(3)):g}", text)
    text = re.sub(r"(?<![\d/])(\d+)/(\d+)(?![\d/])", lambda m: f"{int(m.group(1)) / int(m.group(2)):g}", text)
    return re.sub(rf"\b(?:a|an)\s+(?={_UNIT_WORDS}\b)", "1 ", text, flags=re.IGNORECASE)


def _clause(text: str, start: int, end: int) -> str:
    begin = max((m.end() for m in _CLAUSE_END.finditer(text, 0, start)), default=0)
    after = _CLAUSE_END.search(text, end)
    return text[begin:after.start() if after else len(text)]


def _blank_regions(text: str) -> str:
    """'Region [0]' names an object, not a number: blank it out, keeping every other offset."""
    return REGION_REF.sub(lambda m: " " * len(m.group(0)), text)


def _lengths(text: str) -> list[tuple[float, int, int]]:
    """Every length stated in `text` (spelled numbers already digits), in metres, with its span."""
    found: list[tuple[float, int, int]] = []
    taken = [False] * (len(text) + 1)

    def take(value: float, a: int, b: int) -> None:
        if not any(taken[a:b]):
            found.append((value, a, b))
            taken[a:b] = [True] * (b - a)

    for m in _RANGE.finditer(text):
        g = {k.rstrip("12"): v for k, v in m.groupdict().items() if v is not None}
        ub = _metres_per(g["ub"])
        ua = _metres_per(g["ua"]) if "ua" in g else ub
        take((_number(g["a"]) * ua + _number(g["b"]) * ub) / 2, m.start(), m.end())
    for m in _FEET_INCHES.finditer(text):
        inches = _number(m.group("inch") or m.group("inch2"))
        take(_number(m.group("ft")) * 0.3048 + inches * 0.0254, m.start(), m.end())
    for m in _METRES_CM.finditer(text):
        take(_number(m.group("m")) + int(m.group("cm")) / 100, m.start(), m.end())
    for m in _SINGLE.finditer(text):
        take(_number(m.group("n")) * _metres_per(m.group("u")), m.start(), m.end())
    return sorted(found, key=lambda f: f[1])


def length_metres(text: str, category: str) -> float | None:
    """The length an answer gives for `category`, in metres; None when it states none."""
    blanked = _blank_regions(text)
    prepared = spelled_to_digits(blanked)
    found = _lengths(prepared)
    if not found:
        bare = list(_BARE.finditer(blanked))
        return _number(bare[0].group("n")) if len(bare) == 1 else None
    if len(found) == 1:
        return found[0][0]
    clauses = [_clause(prepared, start, end).lower() for _, start, end in found]
    for words in QUANTITY_WORDS.get(category, ()):
        for (value, _, _), clause in zip(found, clauses):
            if any(re.search(rf"\b{w}", clause) for w in words):
                return value
    return found[0][0]


_HOUR_WORDS = {w: i for i, w in enumerate(_SMALL) if 1 <= i <= 12}
_HOUR = r"\d{1,2}|" + "|".join(sorted(_HOUR_WORDS, key=len, reverse=True))
_OCLOCK = r"-?\s*o\s*['’`´]?\s*-?\s*clock"
_CLOCK_RANGE = re.compile(rf"\b(?:between\s+)?(?P<a>{_HOUR})(?:\s*{_OCLOCK})?\s*(?:-|–|to|and|or)\s*"
                          rf"(?P<b>{_HOUR})\s*{_OCLOCK}", re.IGNORECASE)
_CLOCK = re.compile(rf"\b(?P<h>{_HOUR})\s*(?::(?P<m>\d{{2}}))?\s*{_OCLOCK}|\b(?P<h2>\d{{1,2}}):(?P<m2>\d{{2}})\b",
                    re.IGNORECASE)
_PAST = re.compile(rf"\b(?P<q>half\s+past|quarter\s+past|quarter\s+to)\s+(?P<h>{_HOUR})\b", re.IGNORECASE)
# an hour without "o'clock": "at twelve", "around 2.", "the 3 position"
_BARE_HOUR = re.compile(rf"\b(?:at|around|about|toward|towards|near|approximately|roughly)\s+"
                        rf"(?:(?:about|around|approximately|roughly)\s+)?(?:the\s+|your\s+)?(?P<h>{_HOUR})\b"
                        rf"(?:\s+(?:position|direction|mark))?(?=\s*(?:[,;!?)]|\.(?!\d)|$))"
                        rf"|\b(?:the|your)\s+(?P<h2>{_HOUR})\s+(?:position|direction|mark)\b"
                        rf"|^\W*(?P<h3>{_HOUR})\W*$|\b(?P<noon>noon|midday|midnight)\b", re.IGNORECASE)
_DEGREES = re.compile(r"(?P<d>\d+(?:\.\d+)?)\s*(?:°|degrees?)\s*(?:to\s+(?:the\s+|your\s+)?|towards?\s+the\s+)?"
                      r"(?P<side>left|right|clockwise|counter-?clockwise|anti-?clockwise)", re.IGNORECASE)
_AHEAD = re.compile(r"\b(?:ahead|in front|forward|front)\b", re.IGNORECASE)
_BEHIND = re.compile(r"\b(?:behind|back|rear)\b", re.IGNORECASE)
# "right in front of you", "right behind": an intensifier, not a side
_RIGHT = re.compile(r"\bright\b(?!\s+(?:in\s+front|ahead|behind|next|beside|by|there|here|above|below|before|after|"
                    r"around|near|at|on\s+top|in\s+the\s+(?:middle|center|centre)))", re.IGNORECASE)
_LEFT = re.compile(r"\bleft\b", re.IGNORECASE)


def _hour(token: str) -> int | None:
    hour = _HOUR_WORDS.get(token.lower()) if not token.isdigit() else int(token)
    if hour is None or not 0 <= hour <= 12:
        return None
    return 12 if hour == 0 else hour


def circular_mean_hours(a: float, b: float) -> float:
    if abs(a - b) > 6:
        a, b = (a + 12, b) if a < b else (a, b + 12)
    mean = (a + b) / 2 % 12
    return 12.0 if mean == 0 else mean


def _plain_direction(text: str) -> float | None:
    """Clock hour of 'straight ahead', 'to the left', 'behind and to the right', ...; None if none."""
    ahead, behind = bool(_AHEAD.search(text)), bool(_BEHIND.search(text))
    right, left = bool(_RIGHT.search(text)), bool(_LEFT.search(text))
    if ahead == behind and right == left:
        return None
    if right == left:
        return 12.0 if ahead else 6.0
    side = 3.0 if right else 9.0
    if ahead == behind:
        return side
    return circular_mean_hours(side, 12.0 if ahead else 6.0)


_PREAMBLE = re.compile(r"^\s*(?:if|when|while|standing|facing|looking)\b[^,]*,", re.IGNORECASE)


def clock_hours(text: str) -> float | None:
    """The clock direction an answer states, as an hour in (0, 12]; None when it states none."""
    text = _blank_regions(text)
    m = _PAST.search(text)
    if m and (hour := _hour(m.group("h"))) is not None:
        value = (hour + {"half past": 0.5, "quarter past": 0.25, "quarter to": -0.25}[
            re.sub(r"\s+", " ", m.group("q").lower())]) % 12
        return 12.0 if value == 0 else value
    m = _CLOCK_RANGE.search(text)
    if m and _hour(m.group("a")) and _hour(m.group("b")):
        return circular_mean_hours(float(_hour(m.group("a"))), float(_hour(m.group("b"))))
    for m in _CLOCK.finditer(text):
        hour = _hour(m.group("h") or m.group("h2"))
        minutes = int(m.group("m") or m.group("m2") or 0)
        if hour is not None and minutes < 60:
            value = (hour + minutes / 60) % 12
            return 12.0 if value == 0 else value
    m = _DEGREES.search(text)
    if m:
        hours = float(m.group("d")) / 30 % 12
        side = m.group("side").lower()
        value = hours if side in ("right", "clockwise") else (12 - hours) % 12
        return 12.0 if value == 0 else value
    m = _BARE_HOUR.search(text)
    if m and (hour := _hour(m.group("h") or m.group("h2") or m.group("h3") or "12")) is not None:
        return float(hour)
    return _plain_direction(_PREAMBLE.sub("", text))
