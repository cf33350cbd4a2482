"""`spatialmix judge`: score one answer with the deterministic judge.

    spatialmix judge --category height --truth 1.2 --answer "It is about 4 feet tall."

The last line printed is `correct` or `wrong`; the exit status is 0 either way and 2 on bad
arguments (unknown category, a truth of the wrong form). With `--question` the two objects are read
from it (or given with `--objects`) and a statement answer is read against the asked relation;
without it a statement is taken to restate the asked relation (affirmed: yes; negated or presented
as a correction, "In fact, ...", "actually": no)."""
from __future__ import annotations

import argparse
import sys

from evaluation.judge import judge, truth_from_argument
from evaluation.questions import question_options
from spatialqa_gen.qa import CATEGORIES, QUALITATIVE


def _run_judge(args: argparse.Namespace) -> int:
    options = tuple(args.objects or question_options(args.question, args.category)) \
        if args.category in QUALITATIVE else ()
    try:
        truth = truth_from_argument(args.category, args.truth, args.question, options)
    except ValueError as exc:
        args.parser.error(str(exc))  # exits with status 2
    verdict = judge(args.category, truth, args.answer, args.question)
    if verdict.unparseable:
        print("unparseable: the answer states no value the judge can read")
    else:
        print(f"parsed: {verdict.parsed:g}" + ("" if verdict.error is None else f" (error {verdict.error:.3g})"))
    print("correct" if verdict.correct else "wrong")
    return 0


def add_judge_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register `judge` on a CLI's subparsers (the `spatialmix` command calls this)."""
    p = subparsers.add_parser("judge", help="score one model answer against a ground truth (deterministic)",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--category", required=True, choices=CATEGORIES)
    p.add_argument("--truth", required=True,
                   help="yes/no (qualitative categories; for a which-question the right object's name), metres "
                        "(lengths) or a clock hour 1-12 (direction)")
    p.add_argument("--answer", required=True, help="the model's free-form answer")
    p.add_argument("--question", default="",
                   help="optional: lets a statement answer ('A is right of B') be read against the question; "
                        "without it a statement is taken to restate the asked relation (affirmed: yes, "
                        "negated or a correction: no)")
    p.add_argument("--objects", nargs=2, metavar=("A", "B"),
                   help="optional: the two objects the question names (default: read from the question)")
    p.set_defaults(func=_run_judge, parser=p)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evaluation.cli")
    add_judge_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
