"""What a qualitative question asks about: its two objects and whether it is a which-question.

Objects are the question's "Region [i]" references when it has any. Otherwise they are read from
its wording:
- which-questions: "Which is taller, the lamp or the sofa?", "Between the cup and the bottle, which
  one is closer?", "Is the lamp or the sofa taller?" (the two phrases joined by "or" / "and");
- yes/no questions: the phrase before the relation and the phrase after it, "Is [the lamp] bigger
  than [the sofa]?", "Can you confirm if [the picture] is above [the sofa]?", with auxiliaries
  ("is", "does", "can you confirm if"), verbs ("appear", "positioned on the") and trailing context
  ("side of", "from the viewer's perspective") stripped. A relation word inside a name ("the back
  door") is skipped because no object is left before it.
No objects are returned when the wording fits none of these; the judge then reads answers by the
relation they state alone (docs/evaluation.md, "The judge")."""
from __future__ import annotations

import re

from evaluation.relations import PHRASES, region_options

WHICH = re.compile(r"^\s*(?:which|who)\b|[,:;]\s*(?:which|who)\b|\bwhich\s+(?:one|of|object|item)\b",
                   re.IGNORECASE)
_DET = r"(?:the|a|an|this|that|these|those)"
_PAIR = re.compile(r"between\s+(?P<a>.+?)\s+and\s+(?P<b>.+?)\s*[,?]"
                   r"|[,:]\s*(?P<c>.+?)\s+or\s+(?P<d>.+?)\s*(?:[,?.]|$)"
                   rf"|(?P<e>\b{_DET}\s+[\w' -]+?)\s+or\s+(?P<f>\b{_DET}\s+[\w' -]+?)\s*(?:[,?.]|$)", re.IGNORECASE)
_LEAD = re.compile(r"^\s*(?:(?:can|could|would|will)\s+you\s+(?:please\s+)?(?:confirm|tell(?:\s+me)?|say|verify|"
                   r"check|determine)\s+(?:if|whether|that)\s+|would\s+you\s+say\s+(?:that\s+)?"
                   r"|do\s+you\s+think\s+(?:that\s+)?|is\s+it\s+true\s+that\s+)?"
                   r"(?:(?:is|are|does|do|did|was|were|would|can|could)\s+)?", re.IGNORECASE)
_TRAIL = re.compile(r"(?:\s+(?:is|are|appears?|seems?|looks?|stands?|sits?|lies|positioned|located|situated|placed|"
                    r"found|hanging|lying|sitting|standing|to\s+be|be|more|much|slightly|further|farther|on|to|at|in|"
                    rf"of|side|{_DET}))+\s*$", re.IGNORECASE)
_AFTER = re.compile(r"^\s*(?:(?:hand\s+)?side\s+|(?:(?:to|from)\s+(?:the\s+)?(?:camera|viewer)\s+)"
                    r"|(?:in\s+(?:size|height|width)\s+)|(?:up\s+|down\s+))*"
                    r"(?:than|of|to|from|compared\s+(?:to|with)|relative\s+to)?\s*", re.IGNORECASE)
_AFTER_END = re.compile(r"\s*(?:[?,.;:!]|\s(?:from|in|when|relative|as|according|based)\s|$)", re.IGNORECASE)
_PRONOUN = re.compile(r"^(?:it|they|them|this|that|one|each|other|you|i)$", re.IGNORECASE)


def is_which_question(question: str) -> bool:
    return bool(WHICH.search(question))


def _object(text: str) -> str | None:
    """A cleaned object phrase, or None when nothing object-like is left."""
    text = re.sub(r"^\W+|[\s,;:?.!]+$", "", text).strip()
    bare = re.sub(rf"^{_DET}\b\s*", "", text, flags=re.IGNORECASE)
    if not bare or _PRONOUN.match(bare) or len(bare.split()) > 5:
        return None
    return text


def _pair(a: str | None, b: str | None) -> tuple[str, ...]:
    a, b = _object(a or ""), _object(b or "")
    return (a, b) if a and b and a.lower() != b.lower() else ()


def _before_relation(text: str, category: str) -> str:
    """`text` up to the first relation word of `category` in it ("the sofa taller" -> "the sofa")."""
    starts = [m.start() for pattern, _ in PHRASES[category] for m in pattern.finditer(text)]
    return text[:min(starts)] if starts else text


def _which_options(question: str, category: str) -> tuple[str, ...]:
    for m in _PAIR.finditer(question):
        a, b = next((m.group(x), m.group(y)) for x, y in ("ab", "cd", "ef") if m.group(x))
        a = re.sub(r"^.*\b(?:which|who)\s+(?:one\s+)?(?:is|are|of)\s+", "", a, flags=re.IGNORECASE)
        a, b = (_TRAIL.sub("", _LEAD.sub("", _before_relation(x, category), count=1)) for x in (a, b))
        if found := _pair(a, b):
            return found
    return ()


def _statement_options(question: str, category: str) -> tuple[str, ...]:
    hits = sorted((m.start(), m.end()) for pattern, _ in PHRASES[category] for m in pattern.finditer(question))
    for start, end in hits:
        before = question[:start].rsplit(",", 1)[-1]
        before = _TRAIL.sub("", _LEAD.sub("", before, count=1))
        after = _AFTER.sub("", question[end:], count=1)
        stop = _AFTER_END.search(after)
        if found := _pair(before, after[:stop.start()] if stop else after):
            return found
    return ()


def question_options(question: str, category: str) -> tuple[str, ...]:
    """The two objects a qualitative question names, in its order; () when it names no two."""
    regions = region_options(question)
    if regions:
        return regions if len(regions) == 2 else ()
    if is_which_question(question) or re.search(r"\bor\b", question, re.IGNORECASE):
        return _which_options(question, category) or _statement_options(question, category)
    return _statement_options(question, category)
