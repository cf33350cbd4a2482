"""Qualitative answers: yes/no, and which of two objects, read from free text with fixed rules.

A qualitative question is about two objects A and B (its `options`, in the question's order) and one
quantity (more to the left, higher, farther, bigger, taller, wider). Every relation phrase in a text
is a statement "<subject> has more/less of it"; its subject is the nearest object named before it in
the same clause, else the object named after it ("The taller one is B"; with "of"/"than" in between,
that object is the comparison and the subject is the other one), else the question's subject ("It is
taller"). "not"/"n't"/"never" between subject and phrase, or "less" right before it, flips it.
Rules and limits: docs/evaluation.md."""
from __future__ import annotations

import re
from dataclasses import dataclass

_ALT = "|".join
# Per category: phrases saying the subject has MORE of the quantity (+1) or LESS (-1).
LEXICON: dict[str, tuple[str, str]] = {
    "left_right": (r"left(?:most)?", r"right(?:most)?"),
    "above_below": (_ALT([r"above", r"higher(?: up)?", r"over", r"on top(?: of)?", r"atop", r"upper", r"up"]),
                    _ALT([r"below", r"lower(?: down)?", r"under(?:neath)?", r"beneath", r"down", r"bottom"])),
    "behind_front": (_ALT([r"behind", r"farther", r"further", r"more distant", r"far", r"back(?:ground)?",
                           r"deeper"]),
                     _ALT([r"in front", r"front", r"closer", r"nearer", r"near", r"foreground"])),
    "big_small": (_ALT([r"bigger", r"larger", r"big", r"large", r"greater in size", r"huge", r"massive", r"dwarfs?"]),
                  _ALT([r"smaller", r"small", r"tinier", r"tiny", r"little"])),
    "tall_short": (_ALT([r"taller", r"tall", r"greater height", r"towers?(?: over| above)?"]),
                   _ALT([r"shorter", r"short"])),
    "wide_thin": (_ALT([r"wider", r"wide", r"broader", r"broad", r"thicker", r"thick"]),
                  _ALT([r"thinner", r"thin", r"narrower", r"narrow", r"slimmer", r"slim", r"skinnier"])),
}
PHRASES = {c: ((re.compile(rf"\b(?:{more})\b", re.I), 1), (re.compile(rf"\b(?:{less})\b", re.I), -1))
           for c, (more, less) in LEXICON.items()}
_CLAUSE_END = re.compile(r"[.;!?](?=\s|$)|\b(?:but|while|whereas|however)\b", re.IGNORECASE)
_NEGATION = re.compile(r"\b(?:not|never|no)\b|n't\b", re.IGNORECASE)
_POSSESSIVE = re.compile(r"['’]s\s+")
_COMPARISON = re.compile(r"\s*(?:[,;]\s*)?(?:of|than|from|to)\b", re.IGNORECASE)  # used with .match(text, pos)
_YES = r"yes|yeah|yep|yup|correct|indeed|true|affirmative|certainly|absolutely|sure|definitely|of\s+course"
_NO = r"no|nope|incorrect|not|false|negative|wrong|nah"
# Lead-ins before the yes/no word: "That's correct", "Probably yes", "Unfortunately, no", "In short, yes".
_LEAD_IN = (r"(?:(?:that(?:'s|’s|\s+is)|this\s+is)\s+)?"
            r"(?:(?:probably|likely|most\s+likely|i\s+think|i\s+would\s+say|well|so|unfortunately|sadly|actually|"
            r"in\s+fact|in\s+short|honestly|based\s+on\s+the\s+image)[,:\s]+(?=(?:yes|no)\b))?")
_LEADING = re.compile(rf"^[\s\"'*(]*{_LEAD_IN}(?:(?P<yes>{_YES})(?P<not>\s+not\b)?|(?P<no>{_NO})"
                      rf"|(?P<right>right)(?=\s*[,.!]|\s*$))\b", re.IGNORECASE)
# Whole answers that say yes or no without the word: "I think so", "It seems so", "It isn't.", "It does."
_SO = re.compile(r"^\W*(?:i|it)\s+(?P<no>don't\s+|do\s+not\s+|doesn't\s+|does\s+not\s+)?"
                 r"(?:think|believe|seems?|appears?)\s+so\b", re.IGNORECASE)
_SHORT = re.compile(r"^\W*(?:it|they|that|she|he)\s+(?:is|are|does|do|was|did)(?P<no>\s*n't|\s+not)?"
                    r"(?:\s+(?:indeed|so|true))?\W*$", re.IGNORECASE)
# Words that present a statement as a correction of the question ("In fact, A is to the right of B").
_CORRECTION = re.compile(r"\b(?:in\s+fact|actually|on\s+the\s+contrary|rather|instead|in\s+reality)\b", re.IGNORECASE)
_STATED = re.compile(r"\b(?:answer|response|statement|claim)(?:\s+is)?\s*:?\s*[\"']?(?:(?P<yes>yes|true|correct)"
                     r"|(?P<no>no|false|incorrect|not\s+(?:true|correct)))\b", re.IGNORECASE)
_HEDGE = re.compile(r"\b(?:sure|certain|possible|clear|able|enough information|determine|tell|"
                    r"cannot|can't|unclear|difficult)\b", re.IGNORECASE)


def _region_ref(number: str) -> str:
    """'Region [0]' as models also write it: 'region 0', 'Region[0]', 'Region #0', '<region0>'."""
    return rf"<?\bregion\s*[\[#(]?\s*{number}(?!\d)\s*[\])]?>?"


REGION_REF = re.compile(_region_ref(r"(\d+)"), re.IGNORECASE)


def _object_pattern(option: str, others: list[str]) -> re.Pattern[str]:
    """An option is named by its full name ("the red crate"), its head noun or its first word + "one"
    when no other option shares them; "Region [i]" also as "region i", "Region[i]", "<region i>"."""
    region = re.fullmatch(r"region\s*\[(\d+)\]", option.strip(), re.IGNORECASE)
    if region:
        return re.compile(_region_ref(region.group(1)), re.IGNORECASE)
    name = re.sub(r"^(?:the|a|an)\s+", "", option.strip(), flags=re.IGNORECASE)
    words = name.split()
    other_words = [w.lower() for o in others for w in re.sub(r"^(?:the|a|an)\s+", "", o, flags=re.I).split()]
    forms = [re.escape(name)]
    if len(words) > 1 and words[-1].lower() not in other_words:
        forms.append(re.escape(words[-1]))
    if len(words) > 1 and words[0].lower() not in other_words:
        forms.append(rf"{re.escape(words[0])}\s+(?:one|object|item|thing)")
    return re.compile(rf"\b(?:{'|'.join(forms)})\b", re.IGNORECASE)


def region_options(question: str) -> tuple[str, ...]:
    """The distinct "Region [i]" references of a question, in order, as canonical option names."""
    found = dict.fromkeys(f"Region [{m.group(1)}]" for m in REGION_REF.finditer(question))
    return tuple(found)


@dataclass(frozen=True)
class Mention:
    option: int
    start: int
    end: int


def mentions(text: str, options: tuple[str, ...]) -> list[Mention]:
    """Where each option is named, in reading order (overlapping names of one option merged)."""
    found: list[Mention] = []
    for i, option in enumerate(options):
        pattern = _object_pattern(option, [o for j, o in enumerate(options) if j != i])
        for m in pattern.finditer(text):
            if not any(f.start < m.end() and m.start() < f.end for f in found):
                found.append(Mention(i, m.start(), m.end()))
    return sorted(found, key=lambda f: f.start)


@dataclass(frozen=True)
class Statement:
    subject: int  # option index
    sign: int     # +1: the subject has more of the category's quantity, -1: less


def _clause_bounds(text: str, start: int, end: int) -> tuple[int, int]:
    begin = max((m.end() for m in _CLAUSE_END.finditer(text, 0, start)), default=0)
    after = _CLAUSE_END.search(text, end)
    return begin, after.start() if after else len(text)


def _negated(text: str, since: int, clause_begin: int, phrase: int) -> bool:
    """Whether the relation phrase at `phrase` is turned around: "not"/"n't"/"never" since `since`, or
    "less" right before it ("less tall"); both cancel out."""
    negated = bool(_NEGATION.search(text, since, phrase))
    return negated ^ bool(re.search(r"\bless\s+$", text[max(clause_begin, phrase - 6):phrase], re.I))


def statements(text: str, category: str, options: tuple[str, ...],
               default_subject: int | None = None) -> list[Statement]:
    """Every relation of `category` that `text` states about the options (see the module docstring)."""
    named = mentions(text, options)
    found: list[tuple[int, Statement]] = []
    for pattern, sign in PHRASES[category]:
        for m in pattern.finditer(text):
            if any(n.start < m.end() and m.start() < n.end for n in named):
                continue  # part of an object's own name
            begin, end = _clause_bounds(text, m.start(), m.end())
            before = [n for n in named if begin <= n.start and n.end <= m.start()]
            after = [n for n in named if m.end() <= n.start and n.end <= end]
            if before and len(options) == 2 and _POSSESSIVE.fullmatch(text, before[-1].end, m.start()):
                subject, from_pos = 1 - before[-1].option, begin  # "on the sofa's left": the sofa is the reference
            elif before:
                subject, from_pos = before[-1].option, before[-1].end
            elif after and _COMPARISON.match(text, m.end()) and len(options) == 2:
                subject, from_pos = 1 - after[0].option, begin
            elif after:
                subject, from_pos = after[0].option, begin
            elif default_subject is not None:
                subject, from_pos = default_subject, begin
            else:
                continue
            flipped = _negated(text, from_pos, begin, m.start())
            found.append((m.start(), Statement(subject, -sign if flipped else sign)))
    return [s for _, s in sorted(found, key=lambda f: f[0])]


def sign_for_first(found: list[Statement]) -> int | None:
    """+1 if the statements agree that option 0 has more, -1 if less; None if none or they conflict."""
    signs = {s.sign if s.subject == 0 else -s.sign for s in found}
    return signs.pop() if len(signs) == 1 else None


def _leading_yes_no(answer: str) -> bool | None:
    if whole := _SO.match(answer) or _SHORT.match(answer):
        return not whole.group("no")
    m = _LEADING.match(answer) or _STATED.search(answer)
    if not m:
        return None
    if "not" in m.groupdict() and m.group("not"):
        return False  # "Absolutely not", "Of course not"
    if m.group("no"):
        first_clause = re.split(r"[.;!?](?=\s|$)", answer, maxsplit=1)[0]
        if m.group("no").lower() == "not" and _HEDGE.search(first_clause):
            return None  # "Not sure", "Not possible to tell"
        return False
    if re.match(r"^\W*yes\s+and\s+no\b", answer, re.IGNORECASE):
        return None
    return True


def _phrase_signs(text: str, category: str) -> list[tuple[int, int, bool]]:
    """(start, sign, negated) of every relation phrase of `category` in `text`, in reading order, with
    no regard to subjects."""
    found = []
    for pattern, sign in PHRASES[category]:
        for m in pattern.finditer(text):
            begin, _ = _clause_bounds(text, m.start(), m.end())
            found.append((m.start(), sign, _negated(text, begin, begin, m.start())))
    return sorted(found)


def _restated(answer: str, category: str, question: str) -> bool | None:
    """The yes/no of a statement answer when the objects are unknown. With a question: the relation
    the answer states (negations applied) against the one asked, the objects assumed in the question's
    order. Without one, the answer is taken to restate the asked relation: affirmed is yes, negated or
    presented as a correction ("In fact, ...", "actually") is no; mixed statements are unreadable."""
    said = _phrase_signs(answer, category)
    if not said:
        return None
    asked = _phrase_signs(question, category)
    if asked:
        signs = {-sign if negated else sign for _, sign, negated in said}
        return signs.pop() == asked[0][1] if len(signs) == 1 else None
    negations = {negated for _, _, negated in said}
    if len(negations) != 1:
        return None
    return not negations.pop() and not _CORRECTION.search(answer, 0, said[0][0])


def yes_no(answer: str, category: str, question: str = "", options: tuple[str, ...] = ()) -> bool | None:
    """The yes/no an answer gives to a yes/no question: a leading yes/no word; else a statement ("A is
    to the right of B") compared with the relation the question asks about its two objects; else the
    relation alone (`_restated`). None when it gives neither."""
    marker = _leading_yes_no(answer)
    if marker is not None:
        return marker
    if question and len(options) == 2:
        asked = statements(question, category, options)
        asked_sign = sign_for_first(asked)
        if asked_sign is not None:
            said = sign_for_first(statements(answer, category, options, default_subject=asked[0].subject))
            return None if said is None else said == asked_sign
    return _restated(answer, category, question)


def asked_polarity(question: str, category: str) -> int | None:
    """+1 if a which-question asks for the one with more of the quantity ("Which is taller"), -1 for less."""
    hits = sorted((m.start(), sign) for pattern, sign in PHRASES[category] for m in pattern.finditer(question))
    return hits[0][1] if hits else None


def choice(answer: str, category: str, question: str, options: tuple[str, ...]) -> int | None:
    """Which option (index) an answer picks for a which-question; None when it picks none or both."""
    polarity = asked_polarity(question, category)
    sign = sign_for_first(statements(answer, category, options))
    if sign is not None and polarity is not None and len(options) == 2:
        return 0 if sign == polarity else 1
    named = {m.option for m in mentions(answer, options)}
    return named.pop() if len(named) == 1 else None
