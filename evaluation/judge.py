"""The deterministic judge: one answer against one ground truth, with SpatialRGPT-Bench's rules.

Qualitative answers are right or wrong; a length is a success within +-25% of the truth (relative
error |p - t| / t is kept for the mean); a clock direction when the clock position it points at (its
nearest hour; a half hour points at both neighbours) is within +-1 hour (hours off are kept).
An answer that states nothing the rules can read is wrong and marked unparseable."""
from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from pathlib import Path

from evaluation.quantities import clock_hours, length_metres
from evaluation.questions import is_which_question, question_options
from evaluation.relations import choice, mentions, yes_no
from spatialqa_gen.qa import CATEGORIES, QUALITATIVE

DIRECTION = "direction"
QUANTITATIVE = tuple(c for c in CATEGORIES if c not in QUALITATIVE)  # five lengths + direction
LENGTHS = tuple(c for c in QUANTITATIVE if c != DIRECTION)
LENGTH_TOLERANCE = 0.25
CLOCK_TOLERANCE_H = 1.0

# What the truth of each category is: qualitative -> yes_no or choice, lengths -> metres, direction -> clock.
KINDS = {**{c: ("yes_no", "choice") for c in QUALITATIVE}, **{c: ("metres",) for c in LENGTHS},
         DIRECTION: ("clock",)}


def rule_files() -> list[Path]:
    """The source files whose rules decide a verdict (and read the benchmarks' truths): steps that judge
    list them as inputs, so a changed rule re-judges without re-running inference."""
    from evaluation import quantities, questions, relations

    return [Path(m.__file__) for m in (sys.modules[__name__], quantities, questions, relations)]


@dataclass(frozen=True)
class Truth:
    kind: str                       # yes_no | choice | metres | clock
    value: float                    # 1.0 yes / 0.0 no, the right option's index, metres, clock hour
    options: tuple[str, ...] = ()   # the two objects a qualitative question names, in its order

    def check(self, category: str) -> None:
        if category not in KINDS:
            raise ValueError(f"unknown category {category!r}; one of {', '.join(CATEGORIES)}")
        if self.kind not in KINDS[category]:
            raise ValueError(f"{category} truths are {' or '.join(KINDS[category])}, not {self.kind}")
        if self.kind == "metres" and not 0 <= self.value < math.inf:
            raise ValueError(f"a length must be a finite number >= 0 metres, got {self.value}")
        if self.kind == "clock" and not 0 < self.value <= 12:
            raise ValueError(f"a clock hour is in (0, 12], got {self.value}")
        if self.kind == "choice" and (len(self.options) != 2 or self.value not in (0, 1)):
            raise ValueError(f"a which-question has two options and the index of the right one, got "
                             f"{self.options} / {self.value}")


@dataclass(frozen=True)
class Verdict:
    correct: bool
    parsed: float | None   # what the answer states, in the truth's terms; None = unparseable
    error: float | None    # lengths: relative error; direction: hours off (0..6); else None

    @property
    def unparseable(self) -> bool:
        return self.parsed is None


def clock_difference(a: float, b: float) -> float:
    d = abs(a - b) % 12
    return min(d, 12 - d)


def clock_positions(hour: float) -> tuple[float, ...]:
    """The clock position(s) a stated time points at: the nearest hour ("8:45" -> 9), or both
    neighbours of a half hour ("1:30", "between 1 and 2 o'clock")."""
    low = math.floor(hour)
    hours = (low, low + 1) if abs(hour - low - 0.5) < 1e-9 else (round(hour),)
    return tuple(float(h % 12 or 12) for h in hours)


def judge(category: str, truth: Truth, answer: str, question: str = "") -> Verdict:
    """Score `answer` (free text) against `truth`; `question` lets statement answers to qualitative
    questions ("A is to the right of B") be read against the relation it asks."""
    truth.check(category)
    if truth.kind == "yes_no" and not truth.options and question:
        truth = Truth(truth.kind, truth.value, question_options(question, category))
    if truth.kind == "yes_no":
        said = yes_no(answer, category, question, truth.options)
        return Verdict(said is not None and said == bool(truth.value), None if said is None else float(said), None)
    if truth.kind == "choice":
        picked = choice(answer, category, question, truth.options)
        return Verdict(picked is not None and picked == truth.value, None if picked is None else float(picked), None)
    if truth.kind == "clock":
        hour = clock_hours(answer)
        if hour is None:
            return Verdict(False, None, None)
        ok = any(clock_difference(p, truth.value) <= CLOCK_TOLERANCE_H for p in clock_positions(hour))
        return Verdict(ok, hour, clock_difference(hour, truth.value))
    metres = length_metres(answer, category)
    if metres is None:
        return Verdict(False, None, None)
    t = truth.value
    ok = (1 - LENGTH_TOLERANCE) * t <= metres <= (1 + LENGTH_TOLERANCE) * t
    error = abs(metres - t) / t if t > 0 else (0.0 if metres == 0 else float("inf"))
    return Verdict(ok, metres, error)


def truth_from_argument(category: str, text: str, question: str = "", options: tuple[str, ...] = ()) -> Truth:
    """The CLI's --truth: yes/no for the qualitative categories (for a which-question: the name of the
    right object, one of `options`), metres for the lengths (a unit may be given: "150 cm"), a clock
    hour 1-12 for direction. Raises ValueError with the expected form."""
    if category not in KINDS:
        raise ValueError(f"unknown category {category!r}; one of {', '.join(CATEGORIES)}")
    word = text.strip().lower()
    if category in QUALITATIVE and is_which_question(question):
        if len(options) != 2:
            raise ValueError(f"the which-question {question!r} names no two objects; pass --objects A B")
        named = {m.option for m in mentions(text, options)}
        if len(named) != 1:
            raise ValueError(f"a which-question needs --truth naming the right object: {options[0]!r} or "
                             f"{options[1]!r}, got {text!r}")
        return Truth("choice", float(named.pop()), options)
    if category in QUALITATIVE:
        if word not in ("yes", "no"):
            raise ValueError(f"{category} needs --truth yes or no, got {text!r}")
        return Truth("yes_no", 1.0 if word == "yes" else 0.0, options)
    try:
        value = float(word)
    except ValueError:  # "1.5 m", "150 cm", "3 o'clock": read with the judge's own parsers
        parsed = clock_hours(word) if category == DIRECTION else length_metres(word, category)
        if parsed is None:
            raise ValueError(f"{category} needs a number ({'metres' if category in LENGTHS else 'clock hour 1-12'}), "
                             f"got {text!r}") from None
        value = parsed
    if category == DIRECTION:
        if value != int(value) or not 1 <= value <= 12:
            raise ValueError(f"direction needs a clock hour 1-12, got {text!r}")
        return Truth("clock", value)
    truth = Truth("metres", value)
    truth.check(category)
    return truth
