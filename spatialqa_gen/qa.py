"""Templated QA over the facts, and the parser that reads an answer back into the fact it states.

Every qualitative answer contains the statement "<X> is <relation> <Y>", every quantitative one a
number with a unit, every direction one "<h> o'clock"; an answer that says which of two objects is
higher by how much ("<X> is about 30 cm higher than <Y>") states both from the same signed fact.
`parse_answer` / `parse_order` rely on exactly that, and the asset's check runs them on every turn.
A question is only asked when its answer can be true: a pair too close to call in a category is not
asked in that category (there are no non-answers), and an object whose outline is hidden where a
category needs it (docs/spatialqa.md) is not asked about in that category."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from spatialqa_gen.definitions import QUALITATIVE, QUANTITY, RATIO_CATEGORIES, clock_hour, measure, vertical_offset
from spatialqa_gen.facts import ObjectFacts

QUANTITATIVE = ("direct_distance", "horizontal_distance", "vertical_distance", "width", "height")
CATEGORIES = QUALITATIVE + QUANTITATIVE + ("direction",)
SINGLE_OBJECT = ("width", "height")
VIEW_DEPENDENT = ("left_right", "behind_front", "wide_thin")  # relative to the camera's axes, not gravity's



@dataclass(frozen=True)
class Needs:
    """What a category needs to see of each object it asks about (from `visibility`): along `axes`, at
    most `max_hidden` of the outline hidden and at least `min_pixels` of extent in the picture; along
    every axis at most `max_hidden_any` hidden (a box turned on the floor shows its full width only
    if its depth is seen too). Values from the accuracy harness (docs/spatialqa.md)."""

    axes: str
    max_hidden: float = 1.0
    min_pixels: float = 0.0
    max_hidden_any: float = 1.0


# Extents need both ends of theirs seen; a position tolerates more (half a hidden part moves a centre);
# left/right and bearings held on every object in the harness.
NEEDS: dict[str, Needs] = {
    "width": Needs("x", 0.1, 40.0, 0.5), "height": Needs("z", 0.1, 40.0, 0.5),
    "wide_thin": Needs("x", 0.1, 20.0, 0.5), "tall_short": Needs("z", 0.1, 20.0, 0.5),
    "big_small": Needs("xz", 0.1, 20.0, 0.5),
    "vertical_distance": Needs("z", 0.3, 0.0, 0.5), "above_below": Needs("z", 0.3),
    "behind_front": Needs("y", 0.7), "direct_distance": Needs("xyz", 0.5), "horizontal_distance": Needs("xy", 0.5),
    "left_right": Needs("x"), "direction": Needs("xy"),
}

# Per qualitative category: relation phrases meaning quantity(X) > quantity(Y) ("more") or < ("less").
RELATIONS: dict[str, dict[str, list[str] | str]] = {
    "left_right": {"more": ["to the left of", "further left than"], "less": ["to the right of", "further right than"],
                   "which_more": "more to the left", "which_less": "more to the right"},
    "above_below": {"more": ["above", "higher than"], "less": ["below", "lower than"],
                    "which_more": "higher up", "which_less": "lower down"},
    "behind_front": {"more": ["behind", "farther from the viewer than"],
                     "less": ["in front of", "closer to the viewer than"],
                     "which_more": "farther from the viewer", "which_less": "closer to the viewer"},
    "big_small": {"more": ["bigger than", "larger than"], "less": ["smaller than"],
                  "which_more": "bigger", "which_less": "smaller"},
    "tall_short": {"more": ["taller than"], "less": ["shorter than"], "which_more": "taller", "which_less": "shorter"},
    "wide_thin": {"more": ["wider than"], "less": ["thinner than", "narrower than"],
                  "which_more": "wider", "which_less": "thinner"},
}
YES_NO_QUESTIONS = ["Is {A} {rel} {B}?", "Would you say {A} is {rel} {B}?", "Can you confirm whether {A} is {rel} {B}?"]
WHICH_QUESTIONS = ["Which is {which}, {A} or {B}?", "Between {A} and {B}, which one is {which}?"]
YES = ["Yes, {s}.", "Correct, {s}.", "Yes. {S}."]
NO = ["No, {s}.", "Not quite: {s}.", "No. {S}."]
STATEMENT = ["{S}."]
STATEMENT_FROM_VIEW = ["{S}.", "From this viewpoint, {s}.", "{S}, as seen from the camera."]

QUANTITATIVE_TEMPLATES: dict[str, tuple[list[str], list[str]]] = {
    "direct_distance": (
        ["How far apart are {A} and {B}?", "What is the distance between {A} and {B}?",
         "How far is {A} from {B}?", "Can you tell me the distance between {A} and {B}?"],
        ["{A} and {B} are about {v} apart.", "The distance between {A} and {B} is about {v}.",
         "{A} is roughly {v} away from {B}.", "About {v}."]),
    "horizontal_distance": (
        ["How far apart are {A} and {B} horizontally?", "What is the horizontal distance between {A} and {B}?",
         "Measured along the ground, how far is {A} from {B}?"],
        ["They are about {v} apart horizontally.", "The horizontal distance between {A} and {B} is about {v}.",
         "{A} is about {v} from {B}, measured along the ground."]),
    "vertical_distance": (
        ["What is the vertical distance between {A} and {B}?", "How far apart are {A} and {B} vertically?"],
        ["The vertical distance between {A} and {B} is about {v}.", "About {v} vertically.",
         "Their centres are about {v} apart vertically."]),
    "width": (
        ["How wide is {A}?", "What is the width of {A}?", "Measure the width of {A}.",
         "How wide is {A} from side to side?"],
        ["{A} is about {v} wide.", "The width of {A} is about {v}.", "About {v} wide."]),
    "height": (
        ["How tall is {A}?", "What is the height of {A}?", "What's the height of {A}?"],
        ["{A} is about {v} tall.", "The height of {A} is about {v}.", "About {v} tall."]),
    "direction": (
        ["If you stand at {A} facing the same way as the camera, where is {B}?",
         "From {A}, in which clock direction is {B}?",
         "Standing at {A} and looking ahead like the camera, at what clock position is {B}?"],
        ["{B} is at about {h} o'clock from {A}.", "Around {h} o'clock.",
         "{B} is roughly in the {h} o'clock direction."]),
}
# Asked only of a raised object and a lower one (see `raised`): "higher" is then about where they are.
HIGHER_QUESTIONS = ["How much higher is {H} than {L}?", "How much higher up is {H} than {L}?"]
HIGHER_ANSWERS = ["{H} is about {v} higher than {L}.", "{H} sits about {v} higher up than {L}."]

METRE_PER = {"centimeters": 0.01, "cm": 0.01, "inches": 0.0254, "meters": 1.0, "feet": 0.3048}
SINGULAR = {"centimeter": "centimeters", "inch": "inches", "meter": "meters", "foot": "feet"}
_NUMBER_UNIT = re.compile(r"(\d+(?:\.\d+)?)\s*(centimeters?|cm|inch(?:es)?|meters?|feet|foot)\b", re.IGNORECASE)
_CLOCK = re.compile(r"\b(\d{1,2}) o'clock\b", re.IGNORECASE)
_HIGHER = re.compile(r"\{(A|B)\} (?:is|sits) about .+? higher(?: up)? than \{(A|B)\}", re.IGNORECASE)


@dataclass(frozen=True)
class QAConfig:
    position_margin_m: float = 0.10    # left/right, behind/front closer than this are not asked ...
    position_margin_rel: float = 0.03  # ... nor closer than this fraction of the farther object's distance
    vertical_margin_m: float = 0.08    # above/below closer than this are not asked
    size_ratio_margin: float = 1.15    # height / width ratios below this are not asked
    volume_ratio_margin: float = 1.4   # volume ratios below this are not asked
    min_vertical_m: float = 0.2        # smaller vertical / horizontal offsets are not asked: a relative
    min_horizontal_m: float = 0.2      # answer to "how far" means nothing for two stacked objects
    min_direction_m: float = 0.4       # bearings between objects closer than this are not asked
    needs: dict[str, Needs] = field(default_factory=lambda: dict(NEEDS))  # per category: what must be seen
    imperial_share: float = 0.3
    min_top_view_deg: float = 8.0      # volumes are not compared for objects whose top is seen flatter
                                       # than this: their extent in depth is hidden (measured: docs)


@dataclass(frozen=True)
class QATurn:
    category: str
    object_a: str
    object_b: str          # "" for single-object categories
    question: str
    answer: str
    fact: float            # what was measured (definitions.measure)
    said: float            # qualitative: +1/-1 (quantity(A) vs B); metres; clock hour
    unit: str
    order: int = 0         # +1 / -1: the answer also says A / B is the higher one; 0: no order stated


def _the(name: str) -> str:
    return name if name.lower().startswith("the ") else f"the {name}"


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _number(x: float) -> str:
    return f"{x:.1f}".rstrip("0").rstrip(".")


def say_length(metres: float, rng: np.random.Generator, config: QAConfig) -> tuple[str, float, str]:
    """Spoken length as people say it, the value it states in metres, and its unit: whole centimetres
    or inches for short lengths, metres or feet with at most one decimal above (1 meter, 1.5 meters)."""
    if rng.random() < config.imperial_share:
        inches = round(metres / METRE_PER["inches"])
        if inches < 24:
            n = max(1, inches)
            return f"{n} {'inch' if n == 1 else 'inches'}", n * METRE_PER["inches"], "inches"
        feet = round(metres / METRE_PER["feet"], 1)
        return f"{_number(feet)} feet", feet * METRE_PER["feet"], "feet"
    cm = round(metres * 100)
    if cm < 100:
        n = max(1, cm)
        unit = str(rng.choice(["centimeters", "cm"]))
        return f"{n} {'centimeter' if n == 1 and unit != 'cm' else unit}", n * METRE_PER[unit], unit
    m = round(metres, 1) if metres < 10 else float(round(metres))
    return f"{_number(m)} {'meter' if m == 1 else 'meters'}", m, "meters"


def _qualitative_margin(category: str, a: ObjectFacts, b: ObjectFacts, config: QAConfig) -> float:
    if category == "big_small":
        return float(np.log(config.volume_ratio_margin))
    if category in RATIO_CATEGORIES:
        return float(np.log(config.size_ratio_margin))
    if category == "above_below":
        return config.vertical_margin_m
    reach = max(np.linalg.norm(a.center[:2]), np.linalg.norm(b.center[:2]))
    return max(config.position_margin_m, config.position_margin_rel * float(reach))


def raised(high: ObjectFacts, low: ObjectFacts, config: QAConfig) -> bool:
    """`high` stands clearly higher than `low` (its base and its centre both), so that "higher" speaks
    of where the objects are, not of how tall they are."""
    return high.box_min[2] - low.box_min[2] >= config.min_vertical_m and \
        vertical_offset(high, low) >= config.min_vertical_m


def why_not(category: str, a: ObjectFacts, b: ObjectFacts | None, config: QAConfig,
            definitions: str = "geometric") -> str | None:
    """Why (A, B) is not asked in this category ("hidden", "too_few_pixels", "top_unseen", "too_close",
    "too_small"), or None when it is askable."""
    if (b is None) != (category in SINGLE_OBJECT):
        raise ValueError(f"{category} takes {'one object' if category in SINGLE_OBJECT else 'two objects'}")
    needs = config.needs[category]
    objects = [o for o in (a, b) if o is not None]
    if any(o.visibility.resolution(needs.axes) < needs.min_pixels for o in objects):
        return "too_few_pixels"
    if category in RATIO_CATEGORIES:
        # a hidden part only hides extent: the larger-looking object is at least that large
        objects = [min(objects, key=QUANTITY["geometric"][category])]
    if any(o.visibility.hidden(needs.axes) > needs.max_hidden or o.visibility.hidden("xyz") > needs.max_hidden_any
           for o in objects):
        return "hidden"
    if b is None:
        return None
    if category == "big_small" and min(a.top_view_deg, b.top_view_deg) < config.min_top_view_deg:
        return "top_unseen"
    fact = measure(category, a, b, definitions)
    if category in QUALITATIVE:
        return "too_close" if abs(fact) < _qualitative_margin(category, a, b, config) else None
    smallest = {"vertical_distance": config.min_vertical_m, "horizontal_distance": config.min_horizontal_m,
                "direction": config.min_direction_m}.get(category, 0.0)
    if category == "direction":
        fact = float(np.linalg.norm((b.center - a.center)[:2]))
    return "too_small" if fact < smallest else None


def qualitative_turn(category: str, a: ObjectFacts, b: ObjectFacts, rng: np.random.Generator,
                     definitions: str = "geometric") -> QATurn:
    rel = RELATIONS[category]
    fact = measure(category, a, b, definitions)
    A, B = _the(a.name), _the(b.name)
    polarity = str(rng.choice(["more", "less"]))
    a_more = fact > 0
    if rng.random() < 0.6:
        question = str(rng.choice(YES_NO_QUESTIONS)).format(A=A, B=B, rel=rng.choice(rel[polarity]))
        # state the relation the question asked about when it holds, else its opposite, subject A
        holds = a_more == (polarity == "more")
        phrase = rng.choice(rel[polarity] if holds else rel["less" if polarity == "more" else "more"])
        s = f"{A} is {phrase} {B}"
        answer = str(rng.choice(YES if holds else NO)).format(s=s, S=_cap(s))
    else:
        question = str(rng.choice(WHICH_QUESTIONS)).format(A=A, B=B, which=rel["which_" + polarity])
        winner, loser = (A, B) if a_more == (polarity == "more") else (B, A)
        s = f"{winner} is {rng.choice(rel[polarity])} {loser}"
        statements = STATEMENT_FROM_VIEW if category in VIEW_DEPENDENT else STATEMENT
        answer = str(rng.choice(statements)).format(s=s, S=_cap(s))
    return QATurn(category, a.name, b.name, _cap(question), answer, fact, 1.0 if a_more else -1.0, "")


def quantitative_turn(category: str, a: ObjectFacts, b: ObjectFacts | None, rng: np.random.Generator,
                      config: QAConfig, definitions: str = "geometric") -> QATurn:
    fact = measure(category, a, b, definitions)
    fields = {"A": _the(a.name), "B": _the(b.name) if b is not None else ""}
    questions, answers = QUANTITATIVE_TEMPLATES[category]
    order = 0
    if category == "vertical_distance" and b is not None:
        high, low = (a, b) if vertical_offset(a, b) > 0 else (b, a)
        if raised(high, low, config) and rng.random() < 0.5:
            questions, answers = HIGHER_QUESTIONS, HIGHER_ANSWERS
            fields.update(H=_the(high.name), L=_the(low.name))
            order = 1 if high is a else -1
    if category == "direction":
        said: float = clock_hour(fact, definitions)
        fields["h"] = str(int(said))
        unit = "o'clock"
    else:
        fields["v"], said, unit = say_length(fact, rng, config)
    question = str(rng.choice(questions)).format(**fields)
    answer = str(rng.choice(answers)).format(**fields)
    return QATurn(category, a.name, b.name if b is not None else "", _cap(question), _cap(answer), fact,
                  float(said), unit, order)


def make_turn(category: str, a: ObjectFacts, b: ObjectFacts | None, rng: np.random.Generator,
              config: QAConfig = QAConfig(), definitions: str = "geometric") -> QATurn:
    if category in QUALITATIVE:
        assert b is not None
        return qualitative_turn(category, a, b, rng, definitions)
    return quantitative_turn(category, a, b, rng, config, definitions)


def _with_placeholders(text: str, object_a: str, object_b: str) -> str:
    names = sorted({(_the(object_a), "{A}"), (_the(object_b), "{B}")} if object_b else {(_the(object_a), "{A}")},
                   key=lambda kv: -len(kv[0]))
    for name, token in names:
        text = re.sub(re.escape(name), token, text, flags=re.IGNORECASE)
    return text


def parse_answer(category: str, answer: str, object_a: str, object_b: str) -> float:
    """Read back what an answer states: +1/-1 for qualitative (quantity(A) > or < quantity(B)), metres,
    or the clock hour. Raises ValueError when the answer states nothing."""
    if category in QUALITATIVE:
        text = _with_placeholders(answer, object_a, object_b)
        rel = RELATIONS[category]
        for sign, key in ((1.0, "more"), (-1.0, "less")):
            for phrase in rel[key]:
                m = re.search(r"\{(A|B)\} is " + re.escape(phrase) + r" \{(A|B)\}", text, re.IGNORECASE)
                if m and m.group(1) != m.group(2):
                    return sign if m.group(1) == "A" else -sign
        raise ValueError(f"no {category} relation between the two objects in {answer!r}")
    if category == "direction":
        m = _CLOCK.search(answer)
        if not m or not 1 <= int(m.group(1)) <= 12:
            raise ValueError(f"no clock hour in {answer!r}")
        return float(m.group(1))
    m = _NUMBER_UNIT.search(answer)
    if not m:
        raise ValueError(f"no length in {answer!r}")
    unit = m.group(2).lower()
    return float(m.group(1)) * METRE_PER[SINGULAR.get(unit, unit)]


def parse_order(answer: str, object_a: str, object_b: str) -> int:
    """+1 / -1 when the answer says A / B is the higher of the two ("A is about 30 cm higher than B"), else 0."""
    if not object_b:
        return 0
    m = _HIGHER.search(_with_placeholders(answer, object_a, object_b))
    if not m or m.group(1) == m.group(2):
        return 0
    return 1 if m.group(1) == "A" else -1
