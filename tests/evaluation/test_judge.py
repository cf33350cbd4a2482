"""The judge against the hand-written verdict set, its scoring rules, and the `spatialmix judge` CLI."""
import math

import pytest

from assets.cli import main as spatialmix
from evaluation.judge import Truth, clock_difference, clock_positions, judge, truth_from_argument
from evaluation.quantities import clock_hours, length_metres
from evaluation.questions import question_options
from tests.evaluation.verdicts import PHRASINGS, VERDICTS


def _verdict(category: str, truth: Truth, question: str, answer: str) -> str:
    v = judge(category, truth, answer, question)
    return "unparseable" if v.unparseable else ("correct" if v.correct else "wrong")


def test_verdict_set_is_judged_with_100_percent_accuracy() -> None:
    assert len(VERDICTS) >= 200
    categories = {c for c, *_ in VERDICTS}
    assert len(categories) == 12  # every category is covered
    assert {e for *_, e in VERDICTS} == {"correct", "wrong", "unparseable"}
    misjudged = [(c, t.value, a, e, _verdict(c, t, q, a)) for c, t, q, a, e in VERDICTS if _verdict(c, t, q, a) != e]
    accuracy = 1 - len(misjudged) / len(VERDICTS)
    print(f"judge accuracy on {len(VERDICTS)} hand-written verdicts: {100 * accuracy:.1f}%")
    assert not misjudged, misjudged


def test_probed_phrasings_are_judged_with_100_percent_accuracy() -> None:
    assert len(PHRASINGS) >= 80
    assert sum(e == "wrong" for *_, e in PHRASINGS) >= 20  # the set also catches a judge that says yes to all
    misjudged = [(c, t.value, q, a, e, _verdict(c, t, q, a)) for c, t, q, a, e in PHRASINGS
                 if _verdict(c, t, q, a) != e]
    assert not misjudged, misjudged


def _cli_args(category: str, truth: Truth, question: str, answer: str) -> list[str]:
    """The `spatialmix judge` arguments that state the same case as the engine call."""
    value = {"yes_no": lambda: "yes" if truth.value else "no", "choice": lambda: truth.options[int(truth.value)],
             "metres": lambda: f"{truth.value:g}", "clock": lambda: f"{truth.value:g}"}[truth.kind]()
    args = ["judge", "--category", category, "--truth", value, "--answer", answer, "--question", question]
    if question and truth.options and question_options(question, category) != truth.options:
        args += ["--objects", *truth.options]
    return args


def test_the_cli_gives_the_engines_verdict_on_every_case(capsys: pytest.CaptureFixture) -> None:
    different = []
    for category, truth, question, answer, expected in VERDICTS + PHRASINGS:
        assert spatialmix(_cli_args(category, truth, question, answer)) == 0
        last = capsys.readouterr().out.strip().splitlines()[-1]
        if last != ("correct" if expected == "correct" else "wrong"):
            different.append((category, truth.value, question, answer, expected, last))
    assert not different, different


def test_named_objects_are_read_from_the_question() -> None:
    assert question_options("Is the lamp bigger than the sofa?", "big_small") == ("the lamp", "the sofa")
    assert question_options("Is the back door behind the blue car?", "behind_front") == \
        ("the back door", "the blue car")
    assert question_options("Is the lamp or the sofa taller?", "tall_short") == ("the lamp", "the sofa")
    assert question_options("Who is taller, John or Mary?", "tall_short") == ("John", "Mary")
    assert question_options("Is the chair closer to the camera than the table?", "behind_front") == \
        ("the chair", "the table")
    assert question_options("Is it bigger?", "big_small") == ()
    assert question_options("Is Region [2] left of Region [0]?", "left_right") == ("Region [2]", "Region [0]")


def test_without_a_question_a_statement_restates_the_asked_relation() -> None:
    """The documented default: affirmed is yes; negated, or presented as a correction, is no."""
    expected = {"The lamp is to the left of the sofa.": 1.0, "It is on the right.": 1.0,
                "The lamp is not to the left of the sofa.": 0.0, "In fact, the lamp is to the right of the sofa.": 0.0,
                "Actually it is on the left.": 0.0, "The lamp is next to the sofa.": None}
    assert {answer: judge("left_right", Truth("yes_no", 1.0), answer).parsed for answer in expected} == expected


def test_a_stated_time_points_at_its_nearest_clock_hour() -> None:
    assert clock_positions(8.75) == (9.0,) and clock_positions(8.25) == (8.0,)
    assert clock_positions(12.5) == (12.0, 1.0) and clock_positions(0.5) == (12.0, 1.0)
    assert clock_positions(11.6) == (12.0,)
    v = judge("direction", Truth("clock", 10), "around 8:45")
    assert v.correct and v.error == pytest.approx(1.25)  # the error stays the exact difference


@pytest.mark.parametrize(("said", "truth", "correct"), [(0.75, 1.0, True), (1.25, 1.0, True), (0.7499, 1.0, False),
                                                         (1.2501, 1.0, False), (0.0, 0.0, True), (0.1, 0.0, False)])
def test_lengths_succeed_within_25_percent(said: float, truth: float, correct: bool) -> None:
    v = judge("height", Truth("metres", truth), f"{said} m")
    assert v.correct is correct
    assert v.parsed == pytest.approx(said)
    assert v.error == pytest.approx(abs(said - truth) / truth if truth else (0.0 if said == 0 else math.inf))


def test_clock_hours_wrap_around_twelve() -> None:
    assert clock_difference(12, 1) == clock_difference(1, 12) == 1
    assert clock_difference(11, 1) == 2
    assert clock_difference(6, 12) == 6
    assert judge("direction", Truth("clock", 12), "1 o'clock").correct
    assert judge("direction", Truth("clock", 1), "11 o'clock").error == 2


def test_spelled_and_compound_lengths() -> None:
    assert length_metres("one and a half meters", "height") == pytest.approx(1.5)
    assert length_metres("two meters and a half", "height") == pytest.approx(2.5)
    assert length_metres("half a meter", "width") == pytest.approx(0.5)
    assert length_metres("twenty-five centimeters", "width") == pytest.approx(0.25)
    assert length_metres("5 feet 6 inches", "height") == pytest.approx(5 * 0.3048 + 6 * 0.0254)
    assert length_metres("between 2 and 3 meters", "direct_distance") == pytest.approx(2.5)
    assert length_metres("The distance between Region [0] and Region [1] is unknown.", "direct_distance") is None
    assert clock_hours("three o’clock") == 3 and clock_hours("at 2:30") == pytest.approx(2.5)


def test_truth_must_fit_the_category() -> None:
    with pytest.raises(ValueError, match="yes_no or choice"):
        judge("left_right", Truth("metres", 1.0), "1 m")
    with pytest.raises(ValueError, match="clock hour"):
        judge("direction", Truth("clock", 13), "1 o'clock")
    assert truth_from_argument("direction", "12") == Truth("clock", 12.0)
    assert truth_from_argument("height", "150 cm") == Truth("metres", 1.5)
    assert truth_from_argument("direction", "3 o'clock") == Truth("clock", 3.0)
    for category, text in [("left_right", "1.2"), ("height", "tall"), ("height", "-1"), ("height", "nan"),
                           ("direction", "3.5"), ("direction", "0"), ("colour", "red")]:
        with pytest.raises(ValueError):
            truth_from_argument(category, text)


@pytest.mark.parametrize(("args", "last"), [
    (["--category", "height", "--truth", "1.2", "--answer", "It is about 4 feet tall."], "correct"),
    (["--category", "height", "--truth", "1.2", "--answer", "It is about 2 meters tall."], "wrong"),
    (["--category", "direction", "--truth", "3", "--answer", "three o'clock"], "correct"),
    (["--category", "left_right", "--truth", "yes", "--answer", "No, it is not."], "wrong"),
    (["--category", "left_right", "--truth", "no", "--answer", "In fact, Region [0] is to the right of Region [1].",
      "--question", "Is Region [0] to the left of Region [1]?"], "correct"),
    (["--category", "width", "--truth", "0.5", "--answer", "I cannot tell."], "wrong"),
    (["--category", "big_small", "--truth", "no", "--question", "Is the lamp bigger than the sofa?",
      "--answer", "The lamp is actually smaller than the sofa."], "correct"),
    (["--category", "direction", "--truth", "10", "--answer", "around 8:45"], "correct"),
    (["--category", "tall_short", "--truth", "the sofa", "--question", "Which is taller, the lamp or the sofa?",
      "--answer", "The lamp is shorter."], "correct"),
    (["--category", "tall_short", "--truth", "Region [0]", "--question", "Which is taller, Region [0] or Region [1]?",
      "--answer", "Region [1]."], "wrong"),
])
def test_cli_prints_the_verdict_last_and_exits_0(args: list[str], last: str, capsys: pytest.CaptureFixture) -> None:
    assert spatialmix(["judge", *args]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1] == last


@pytest.mark.parametrize("args", [
    ["--category", "colour", "--truth", "1", "--answer", "x"],
    ["--category", "height", "--truth", "yes", "--answer", "x"],
    ["--category", "left_right", "--truth", "maybe", "--answer", "x"],
    ["--category", "direction", "--truth", "13", "--answer", "x"],
    ["--category", "height", "--answer", "x"],
    ["--category", "tall_short", "--truth", "yes", "--question", "Which is taller, the lamp or the sofa?",
     "--answer", "x"],
    ["--category", "tall_short", "--truth", "the chair", "--question", "Which is taller, the lamp or the sofa?",
     "--answer", "x"],
    ["--category", "tall_short", "--truth", "the lamp", "--question", "Which is taller?", "--answer", "x"],
])
def test_cli_bad_arguments_exit_2(args: list[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        spatialmix(["judge", *args])
    assert exc.value.code == 2
