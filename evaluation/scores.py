"""Per-category scores and the tables of Spatial-LLaVA's README.

Qualitative categories: % correct. Quantitative ones: success rate (within +-25%, direction within
+-1 hour) and, over the answers that stated a value, the mean absolute relative error (direction:
mean degrees off). Unparseable answers count as wrong and are listed by id. "Avg" is the mean of the
six per-category rates, as in the README."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

from evaluation.judge import DIRECTION, Verdict
from spatialqa_gen.qa import CATEGORIES, QUALITATIVE

# README column order and titles.
QUALITATIVE_COLUMNS = (("above_below", "Below/Above"), ("left_right", "Left/Right"), ("big_small", "Big/Small"),
                       ("tall_short", "Tall/Short"), ("wide_thin", "Wide/Thin"), ("behind_front", "Behind/Front"))
QUANTITATIVE_COLUMNS = (("direct_distance", "Direct Dist"), ("horizontal_distance", "Horizontal Dist"),
                        ("vertical_distance", "Vertical Dist"), ("width", "Width"), ("height", "Height"),
                        (DIRECTION, "Direction"))


@dataclass
class CategoryScore:
    category: str
    asked: int = 0
    correct: int = 0
    unparseable: int = 0
    errors: list[float] = field(default_factory=list)

    @property
    def success(self) -> float:
        return self.correct / self.asked if self.asked else math.nan

    @property
    def mean_error(self) -> float:
        """Relative error for lengths, degrees for direction, NaN for qualitative or no values."""
        if not self.errors:
            return math.nan
        scale = 30.0 if self.category == DIRECTION else 1.0  # hours off -> degrees
        return scale * sum(self.errors) / len(self.errors)


@dataclass
class Scores:
    categories: dict[str, CategoryScore]
    unparseable_ids: list[str]

    def to_json(self) -> dict:
        return {"categories": {c: asdict(s) for c, s in self.categories.items()},
                "unparseable_ids": self.unparseable_ids}

    @classmethod
    def from_json(cls, data: dict) -> "Scores":
        return cls({c: CategoryScore(**s) for c, s in data["categories"].items()}, list(data["unparseable_ids"]))

    def average(self, categories: tuple[str, ...]) -> float:
        rates = [self.categories[c].success for c in categories if self.categories[c].asked]
        return sum(rates) / len(rates) if rates else math.nan

    def rows(self) -> list[dict]:
        """One row per category (for a metadata table)."""
        return [{"category": c, "asked": s.asked, "correct": s.correct, "unparseable": s.unparseable,
                 "success_pct": round(100 * s.success, 2) if s.asked else None,
                 "mean_error": None if math.isnan(s.mean_error) else round(s.mean_error, 4),
                 "error_unit": "" if c in QUALITATIVE else ("deg" if c == DIRECTION else "relative")}
                for c, s in self.categories.items()]


def score(judged: list[tuple[str, str, Verdict]]) -> Scores:
    """(id, category, verdict) per answer -> scores per category (all twelve, asked or not)."""
    categories = {c: CategoryScore(c) for c in CATEGORIES}
    unparseable = []
    for item_id, category, verdict in judged:
        s = categories[category]
        s.asked += 1
        s.correct += verdict.correct
        if verdict.unparseable:
            s.unparseable += 1
            unparseable.append(item_id)
        elif verdict.error is not None and math.isfinite(verdict.error):
            s.errors.append(verdict.error)
    return Scores(categories, unparseable)


def _pct(x: float) -> str:
    return "–" if math.isnan(x) else f"{100 * x:.2f}"


def readme_tables(models: list[tuple[str, Scores]]) -> str:
    """The two tables of Spatial-LLaVA's README, one row per model, as markdown."""
    qual = [c for c, _ in QUALITATIVE_COLUMNS]
    quan = [c for c, _ in QUANTITATIVE_COLUMNS]
    lines = ["#### Qualitative (% correct)", "",
             "| Model | " + " | ".join(t for _, t in QUALITATIVE_COLUMNS) + " | Avg |",
             "|:--|" + "--:|" * (len(qual) + 1)]
    for name, s in models:
        lines.append(f"| {name} | " + " | ".join(_pct(s.categories[c].success) for c in qual)
                     + f" | {_pct(s.average(tuple(qual)))} |")
    lines += ["", "#### Quantitative (success % / mean abs. relative error; direction: success % / mean °)", "",
              "| Model | " + " | ".join(t for _, t in QUANTITATIVE_COLUMNS) + " | Avg |",
              "|:--|" + "--:|" * (len(quan) + 1)]
    for name, s in models:
        cells = []
        for c in quan:
            err = s.categories[c].mean_error
            shown = "–" if math.isnan(err) else (f"{err:.2f}°" if c == DIRECTION else f"{err:.2f}")
            cells.append(f"{_pct(s.categories[c].success)} / {shown}")
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {_pct(s.average(tuple(quan)))} |")
    counts = ", ".join(f"{name}: {sum(x.asked for x in s.categories.values())} asked, "
                       f"{len(s.unparseable_ids)} unparseable" for name, s in models)
    return "\n".join(lines + ["", counts])

