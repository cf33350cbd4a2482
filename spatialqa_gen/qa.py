"""Templated QA over the facts, and the parser that reads an answer back into the fact it states.

Every qualitative answer contains the statement "<X> is <relation> <Y>" (or a fixed abstention
phrase), every quantitative one a number with a unit, every direction one "<h> o'clock"; `parse_answer`
relies on exactly that, and the asset's check runs it on every turn written."""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from spatialqa_gen.facts import QUANTITY, RATIO_CATEGORIES, ObjectFacts, clock_hour, measure

QUALITATIVE = tuple(QUANTITY)
QUANTITATIVE = ("direct_distance", "horizontal_distance", "vertical_distance", "width", "height")
CATEGORIES = QUALITATIVE + QUANTITATIVE + ("direction",)
SINGLE_OBJECT = ("width", "height")

# Per qualitative category: relation phrases meaning quantity(X) > quantity(Y) ("more") or < ("less").
RELATIONS: dict[str, dict[str, list[str] | str]] = {
    "left_right": {"more": ["to the left of", "further left than"], "less": ["to the right of", "further right than"],
                   "which_more": "more to the left", "which_less": "more to the right",
                   "same": "at about the same left-right position"},
    "above_below": {"more": ["above", "higher than"], "less": ["below", "lower than"],
                    "which_more": "higher up", "which_less": "lower down", "same": "at about the same height"},
    "behind_front": {"more": ["behind", "farther from the viewer than"],
                     "less": ["in front of", "closer to the viewer than"],
                     "which_more": "farther from the viewer", "which_less": "closer to the viewer",
                     "same": "at about the same distance from the viewer"},
    "big_small": {"more": ["bigger than", "larger than"], "less": ["smaller than"],
                  "which_more": "bigger", "which_less": "smaller", "same": "about the same size"},
    "tall_short": {"more": ["taller than"], "less": ["shorter than"],
                   "which_more": "taller", "which_less": "shorter", "same": "about equally tall"},
    "wide_thin": {"more": ["wider than"], "less": ["thinner than", "narrower than"],
                  "which_more": "wider", "which_less": "thinner", "same": "about equally wide"},
}
YES_NO_QUESTIONS = ["Is {A} {rel} {B}?", "Would you say {A} is {rel} {B}?", "Can you confirm whether {A} is {rel} {B}?"]
WHICH_QUESTIONS = ["Which is {which}, {A} or {B}?", "Between {A} and {B}, which one is {which}?"]
YES = ["Yes, {s}.", "Correct, {s}.", "Yes. {S}."]
NO = ["No, {s}.", "Not quite: {s}.", "No. {S}."]
STATEMENT = ["{S}.", "From this viewpoint, {s}.", "{S}, as seen from the camera."]
ABSTAIN_MARKERS = ("too close to call", "hard to say which")
ABSTAIN = ["{A} and {B} are {same}; it is too close to call.",
           "They are {same}, so it is hard to say which."]

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
        ["What is the vertical distance between {A} and {B}?", "How far apart are {A} and {B} vertically?",
         "How much higher is {H} than {L}?"],
        ["The vertical distance between {A} and {B} is about {v}.", "About {v} vertically.",
         "{H} sits about {v} higher than {L}."]),
    "width": (
        ["How wide is {A}?", "What is the width of {A}?", "Measure the width of {A}.",
         "How wide is {A} from side to side?"],
        ["{A} is about {v} wide.", "The width of {A} is about {v}.", "About {v} wide."]),
    "height": (
        ["How tall is {A}?", "What is the height of {A}?", "How high is {A}?", "What's the height of {A}?"],
        ["{A} is about {v} tall.", "The height of {A} is about {v}.", "About {v} tall."]),
    "direction": (
        ["If you stand at {A} facing the same way as the camera, where is {B}?",
         "From {A}, in which clock direction is {B}?",
         "Standing at {A} and looking ahead like the camera, at what clock position is {B}?"],
        ["{B} is at about {h} o'clock from {A}.", "Around {h} o'clock.",
         "{B} is roughly in the {h} o'clock direction."]),
}

METRE_PER = {"centimeters": 0.01, "cm": 0.01, "inches": 0.0254, "meters": 1.0, "feet": 0.3048}
_NUMBER_UNIT = re.compile(r"(\d+(?:\.\d+)?)\s*(centimeters|cm|inches|meters|feet)\b", re.IGNORECASE)
_CLOCK = re.compile(r"\b(\d{1,2}) o'clock\b", re.IGNORECASE)


@dataclass(frozen=True)
class QAConfig:
    position_margin_m: float = 0.10    # left/right, above/below, behind/front closer than this: abstain
    position_margin_rel: float = 0.03  # ... or than this fraction of the farther object's distance
    size_ratio_margin: float = 1.15    # height / width ratios below this: abstain
    volume_ratio_margin: float = 1.4   # volume ratios below this: abstain
    min_vertical_m: float = 0.2        # smaller vertical / horizontal offsets are not asked: a relative
    min_horizontal_m: float = 0.2      # answer to "how far" means nothing for two stacked objects
    min_direction_m: float = 0.4       # bearings between objects closer than this are not asked
    small_unit_below_m: float = 1.0    # cm/inches under this, metres/feet above (as people speak)
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
    fact: float            # what was measured (facts.measure)
    said: float | None     # qualitative: +1/-1 (quantity(A) vs B); metres; clock hour; None = abstained
    unit: str

    @property
    def abstained(self) -> bool:
        return self.said is None


def _the(name: str) -> str:
    return name if name.lower().startswith("the ") else f"the {name}"


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def say_length(metres: float, rng: np.random.Generator, config: QAConfig) -> tuple[str, float, str]:
    """Spoken length, the value it states in metres, and its unit."""
    imperial = rng.random() < config.imperial_share
    if metres < config.small_unit_below_m:
        unit, n = ("inches", max(1, round(metres / 0.0254))) if imperial else \
            (str(rng.choice(["centimeters", "cm"])), max(1, round(metres * 100)))
        return f"{n} {unit}", n * METRE_PER[unit], unit
    unit = "feet" if imperial else "meters"
    n = round(metres / METRE_PER[unit], 1)
    return f"{n:.1f} {unit}", n * METRE_PER[unit], unit


def _qualitative_margin(category: str, a: ObjectFacts, b: ObjectFacts, config: QAConfig) -> float:
    if category == "big_small":
        return float(np.log(config.volume_ratio_margin))
    if category in RATIO_CATEGORIES:
        return float(np.log(config.size_ratio_margin))
    reach = max(np.linalg.norm(a.center[:2]), np.linalg.norm(b.center[:2]))
    return max(config.position_margin_m, config.position_margin_rel * float(reach))


def qualitative_turn(category: str, a: ObjectFacts, b: ObjectFacts, rng: np.random.Generator,
                     config: QAConfig) -> QATurn:
    rel = RELATIONS[category]
    fact = measure(category, a, b)
    A, B = _the(a.name), _the(b.name)
    yes_no = rng.random() < 0.6
    polarity = str(rng.choice(["more", "less"]))
    if yes_no:
        question = str(rng.choice(YES_NO_QUESTIONS)).format(A=A, B=B, rel=rng.choice(rel[polarity]))
    else:
        question = str(rng.choice(WHICH_QUESTIONS)).format(A=A, B=B, which=rel["which_" + polarity])
    if abs(fact) < _qualitative_margin(category, a, b, config):
        answer = _cap(str(rng.choice(ABSTAIN)).format(A=A, B=B, same=rel["same"]))
        return QATurn(category, a.name, b.name, _cap(question), answer, fact, None, "")
    a_more = fact > 0
    if yes_no:
        # state the relation the question asked about when it holds, else its opposite, subject A
        holds = a_more == (polarity == "more")
        phrase = rng.choice(rel[polarity] if holds else rel["less" if polarity == "more" else "more"])
        s = f"{A} is {phrase} {B}"
        answer = str(rng.choice(YES if holds else NO)).format(s=s, S=_cap(s))
    else:
        winner, loser = (A, B) if a_more == (polarity == "more") else (B, A)
        s = f"{winner} is {rng.choice(rel[polarity])} {loser}"
        answer = str(rng.choice(STATEMENT)).format(s=s, S=_cap(s))
    return QATurn(category, a.name, b.name, _cap(question), answer, fact, 1.0 if a_more else -1.0, "")


def quantitative_turn(category: str, a: ObjectFacts, b: ObjectFacts | None, rng: np.random.Generator,
                      config: QAConfig) -> QATurn:
    fact = measure(category, a, b)
    A = _the(a.name)
    B = _the(b.name) if b is not None else ""
    fields = {"A": A, "B": B}
    if b is not None:
        high, low = (a, b) if a.center[2] >= b.center[2] else (b, a)
        fields.update(H=_the(high.name), L=_the(low.name))
    questions, answers = QUANTITATIVE_TEMPLATES[category]
    qi = int(rng.integers(len(questions)))
    if category == "direction":
        said: float = clock_hour(fact)
        fields["h"] = str(int(said))
        unit = "o'clock"
    else:
        fields["v"], said, unit = say_length(fact, rng, config)
    # "How much higher is H than L" is answered by the matching statement, other questions by any
    pool = answers[2:] if qi == 2 and category == "vertical_distance" else answers
    answer = str(rng.choice(pool)).format(**fields)
    return QATurn(category, a.name, b.name if b is not None else "", _cap(questions[qi].format(**fields)),
                  _cap(answer), fact, float(said), unit)


def askable(category: str, a: ObjectFacts, b: ObjectFacts | None, config: QAConfig) -> bool:
    """Quantities too small for a relative answer to mean anything are not asked."""
    if category == "vertical_distance":
        return b is not None and measure(category, a, b) >= config.min_vertical_m
    if category == "horizontal_distance":
        return b is not None and measure(category, a, b) >= config.min_horizontal_m
    if category == "direction":
        return b is not None and np.linalg.norm((b.center - a.center)[:2]) >= config.min_direction_m
    if category == "big_small":
        return b is not None and min(a.top_view_deg, b.top_view_deg) >= config.min_top_view_deg
    return (b is None) == (category in SINGLE_OBJECT)


def make_turn(category: str, a: ObjectFacts, b: ObjectFacts | None, rng: np.random.Generator,
              config: QAConfig = QAConfig()) -> QATurn:
    if category in QUALITATIVE:
        assert b is not None
        return qualitative_turn(category, a, b, rng, config)
    return quantitative_turn(category, a, b, rng, config)


def _with_placeholders(text: str, object_a: str, object_b: str) -> str:
    names = sorted({(_the(object_a), "{A}"), (_the(object_b), "{B}")} if object_b else {(_the(object_a), "{A}")},
                   key=lambda kv: -len(kv[0]))
    for name, token in names:
        text = re.sub(re.escape(name), token, text, flags=re.IGNORECASE)
    return text


def parse_answer(category: str, answer: str, object_a: str, object_b: str) -> float | None:
    """Read back what an answer states: +1/-1 for qualitative (quantity(A) > or < quantity(B)), metres,
    or the clock hour; None for an abstention. Raises ValueError when the answer states nothing."""
    if category in QUALITATIVE:
        text = _with_placeholders(answer, object_a, object_b)
        if any(m in text.lower() for m in ABSTAIN_MARKERS):
            return None
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
    return float(m.group(1)) * METRE_PER[m.group(2).lower()]
