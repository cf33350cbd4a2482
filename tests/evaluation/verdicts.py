"""The judge's verdict set: answer strings with the verdict a careful human gives them.

Phrasings are those LLaVA-1.5 produces on SpatialRGPT-style questions (full-sentence restatements
with "approximately", yes/no lead-ins, "located at the 10 o'clock position", refusals), the
benchmark's own reference answers ("Incorrect, ...", "In fact, ...", "Positioned in front is ..."),
and short forms. Each case: (category, truth, question, answer, expected) with expected one of
"correct", "wrong" (parsed, but not the truth) or "unparseable" (states nothing readable: wrong)."""
from __future__ import annotations

from evaluation.judge import Truth

R = ("Region [0]", "Region [1]")
NAMED = ("the red crate", "the blue barrel")


def yes(options: tuple[str, ...] = R) -> Truth:
    return Truth("yes_no", 1.0, options)


def no(options: tuple[str, ...] = R) -> Truth:
    return Truth("yes_no", 0.0, options)


def pick(index: int, options: tuple[str, ...] = R) -> Truth:
    return Truth("choice", float(index), options)


def m(metres: float) -> Truth:
    return Truth("metres", metres)


def h(hour: float) -> Truth:
    return Truth("clock", hour)


Q_LEFT = "Is Region [0] to the left of Region [1] from the viewer's perspective?"
Q_RIGHT_WHICH = "Between Region [0] and Region [1], which one appears on the right side from the viewer's perspective?"
Q_ABOVE = "Is Region [0] above Region [1]?"
Q_LOWER_WHICH = "Which is lower, Region [0] or Region [1]?"
Q_BEHIND = "Is Region [0] behind Region [1]?"
Q_CLOSER_WHICH = "Which is closer to the camera, Region [0] or Region [1]?"
Q_BIG = "Does Region [0] appear bigger than Region [1]?"
Q_SMALL = "Can you confirm if Region [0] is smaller than Region [1]?"
Q_TALL_WHICH = "Who is taller, Region [0] or Region [1]?"
Q_SHORT = "Is Region [0] shorter than Region [1]?"
Q_WIDE = "Is Region [0] wider than Region [1]?"
Q_THIN_WHICH = "Which of these two, Region [0] or Region [1], appears thinner?"
Q_NAMED_LEFT = "Is the red crate to the left of the blue barrel?"
Q_NAMED_TALL = "Which one is taller, the red crate or the blue barrel?"
Q_HEIGHT = "What is the height of Region [0]?"
Q_WIDTH = "Measure the width of Region [0]."
Q_DIST = "How far away is Region [0] from Region [1]?"
Q_HDIST = "How far apart are Region [0] and Region [1] horizontally?"
Q_VDIST = "What is the vertical distance between Region [0] and Region [1]?"
Q_DIR = "If you are at Region [0], where will you find Region [1]?"

VERDICTS: list[tuple[str, Truth, str, str, str]] = [
    # --- left_right, yes/no -------------------------------------------------------------------
    ("left_right", yes(), Q_LEFT, "Yes", "correct"),
    ("left_right", yes(), Q_LEFT, "yes.", "correct"),
    ("left_right", yes(), Q_LEFT, "Yes, Region [0] is to the left of Region [1].", "correct"),
    ("left_right", yes(), Q_LEFT, "Yes, Region [0] is positioned to the left of Region [1] from the viewer's perspective.", "correct"),
    ("left_right", no(), Q_LEFT, "Yes, Region [0] is to the left of Region [1].", "wrong"),
    ("left_right", no(), Q_LEFT, "No, Region [0] is not to the left of Region [1].", "correct"),
    ("left_right", no(), Q_LEFT, "No", "correct"),
    ("left_right", yes(), Q_LEFT, "No.", "wrong"),
    ("left_right", yes(), Q_LEFT, "Indeed, Region [0] is positioned on the left side of Region [1].", "correct"),
    ("left_right", yes(), Q_LEFT, "Correct, you'll find Region [0] to the left of Region [1].", "correct"),
    ("left_right", no(), Q_LEFT, "Incorrect, Region [0] is not on the left side of Region [1].", "correct"),
    ("left_right", no(), Q_LEFT, "In fact, Region [0] is to the right of Region [1].", "correct"),
    ("left_right", yes(), Q_LEFT, "In fact, Region [0] is to the right of Region [1].", "wrong"),
    ("left_right", yes(), Q_LEFT, "Region [0] is located to the left of Region [1].", "correct"),
    ("left_right", no(), Q_LEFT, "Region [1] is to the left of Region [0].", "correct"),
    ("left_right", yes(), Q_LEFT, "Region [1] is to the right of Region [0].", "correct"),
    ("left_right", yes(), Q_LEFT, "Region 0 is on the left side of the image, while Region 1 is on the right side.", "correct"),
    ("left_right", no(), Q_LEFT, "Region [0] is not to the left of Region [1].", "correct"),
    ("left_right", no(), Q_LEFT, "Region [0] isn't to the left of Region [1]; it is to its right.", "correct"),
    ("left_right", no(), Q_LEFT, "It is to the right.", "correct"),
    ("left_right", yes(), Q_LEFT, "Not sure.", "unparseable"),
    ("left_right", no(), Q_LEFT, "It is not possible to determine the position of Region [0] relative to Region [1] from the image.", "unparseable"),
    ("left_right", yes(), Q_LEFT, "I'm sorry, but I cannot determine that from the image.", "unparseable"),
    ("left_right", yes(), Q_LEFT, "The answer is yes.", "correct"),
    ("left_right", no(), Q_LEFT, "After looking at the image, the answer is no.", "correct"),
    ("left_right", yes(), Q_LEFT, "Yes and no.", "unparseable"),
    ("left_right", yes(), Q_LEFT, "Absolutely, Region [0] sits further left than Region [1].", "correct"),
    ("left_right", no(), Q_LEFT, "Nope.", "correct"),
    ("left_right", yes(), Q_LEFT, "", "unparseable"),
    ("left_right", yes(), Q_LEFT, "Region [0] and Region [1] are both in the image.", "unparseable"),
    ("left_right", yes(NAMED), Q_NAMED_LEFT, "Yes, the red crate is to the left of the blue barrel.", "correct"),
    ("left_right", yes(NAMED), Q_NAMED_LEFT, "The red crate is on the left, and the blue barrel is on the right.", "correct"),
    ("left_right", no(NAMED), Q_NAMED_LEFT, "The blue barrel is to the left of the red crate.", "correct"),
    ("left_right", no(NAMED), Q_NAMED_LEFT, "The crate is to the left of the barrel.", "wrong"),
    ("left_right", yes(NAMED), Q_NAMED_LEFT, "The red one is further left than the blue one.", "correct"),
    # --- left_right, which ------------------------------------------------------------------
    ("left_right", pick(1), Q_RIGHT_WHICH, "From the viewer's perspective, Region [1] appears more on the right side.", "correct"),
    ("left_right", pick(1), Q_RIGHT_WHICH, "Region [1].", "correct"),
    ("left_right", pick(1), Q_RIGHT_WHICH, "Region [1]", "correct"),
    ("left_right", pick(1), Q_RIGHT_WHICH, "Region [0].", "wrong"),
    ("left_right", pick(1), Q_RIGHT_WHICH, "Region [0] is on the left.", "correct"),
    ("left_right", pick(0), Q_RIGHT_WHICH, "Region [0] appears on the right side from the viewer's perspective.", "correct"),
    ("left_right", pick(0), Q_RIGHT_WHICH, "Region [1] is more to the left than Region [0].", "correct"),
    ("left_right", pick(1), Q_RIGHT_WHICH, "Both regions appear on the right side.", "unparseable"),
    ("left_right", pick(1), Q_RIGHT_WHICH, "Region [0] and Region [1].", "unparseable"),
    ("left_right", pick(1), Q_RIGHT_WHICH, "Yes.", "unparseable"),
    ("left_right", pick(0), Q_RIGHT_WHICH, "The rightmost one is Region 0.", "correct"),
    # --- above_below ---------------------------------------------------------------------------
    ("above_below", yes(), Q_ABOVE, "Yes, Region [0] is above Region [1].", "correct"),
    ("above_below", yes(), Q_ABOVE, "Yes, Region [0] is positioned higher than Region [1].", "correct"),
    ("above_below", no(), Q_ABOVE, "No, Region [0] is below Region [1].", "correct"),
    ("above_below", no(), Q_ABOVE, "Region [0] is located below Region [1].", "correct"),
    ("above_below", yes(), Q_ABOVE, "Region [0] is located below Region [1].", "wrong"),
    ("above_below", no(), Q_ABOVE, "Region [1] is on top of Region [0].", "correct"),
    ("above_below", yes(), Q_ABOVE, "Region [1] sits lower than Region [0].", "correct"),
    ("above_below", yes(), Q_ABOVE, "Region [0] is not below Region [1].", "correct"),
    ("above_below", no(), Q_ABOVE, "Incorrect, Region [0] is not above Region [1].", "correct"),
    ("above_below", yes(), Q_ABOVE, "Indeed, Region [0] is above Region [1].", "correct"),
    ("above_below", pick(1), Q_LOWER_WHICH, "Region [1] is lower.", "correct"),
    ("above_below", pick(1), Q_LOWER_WHICH, "Region [0] is higher up.", "correct"),
    ("above_below", pick(1), Q_LOWER_WHICH, "Region [0] is higher than Region [1].", "correct"),
    ("above_below", pick(0), Q_LOWER_WHICH, "Region [0] is positioned lower than Region [1].", "correct"),
    ("above_below", pick(0), Q_LOWER_WHICH, "Region [1].", "wrong"),
    ("above_below", pick(0), Q_LOWER_WHICH, "They are at the same height.", "unparseable"),
    ("above_below", pick(1), Q_LOWER_WHICH, "Region [1] is underneath Region [0].", "correct"),
    # --- behind_front -----------------------------------------------------------------------------
    ("behind_front", yes(), Q_BEHIND, "Yes, Region [0] is behind Region [1].", "correct"),
    ("behind_front", no(), Q_BEHIND, "No, Region [0] is in front of Region [1].", "correct"),
    ("behind_front", no(), Q_BEHIND, "No.", "correct"),
    ("behind_front", no(), Q_BEHIND, "Region [0] is in front of Region [1].", "correct"),
    ("behind_front", yes(), Q_BEHIND, "Region [0] is in front of Region [1].", "wrong"),
    ("behind_front", yes(), Q_BEHIND, "Region [0] is farther from the viewer than Region [1].", "correct"),
    ("behind_front", yes(), Q_BEHIND, "Region [1] is closer to the camera than Region [0].", "correct"),
    ("behind_front", no(), Q_BEHIND, "Region [1] is further away than Region [0].", "correct"),
    ("behind_front", yes(), Q_BEHIND, "Region [0] is positioned in the background, behind Region [1].", "correct"),
    ("behind_front", no(), Q_BEHIND, "Incorrect, Region [0] is not behind Region [1].", "correct"),
    ("behind_front", pick(1), Q_CLOSER_WHICH, "Region [1] is closer to the camera.", "correct"),
    ("behind_front", pick(1), Q_CLOSER_WHICH, "Positioned in front is Region [1].", "correct"),
    ("behind_front", pick(1), Q_CLOSER_WHICH, "Region [1] is more forward.", "correct"),
    ("behind_front", pick(0), Q_CLOSER_WHICH, "Region [1] is behind Region [0].", "correct"),
    ("behind_front", pick(0), Q_CLOSER_WHICH, "Region [0] is farther away.", "wrong"),
    ("behind_front", pick(1), Q_CLOSER_WHICH, "Region [1]", "correct"),
    ("behind_front", pick(1), Q_CLOSER_WHICH, "It is hard to tell which one is closer.", "unparseable"),
    # --- big_small -------------------------------------------------------------------------------
    ("big_small", yes(), Q_BIG, "Yes, Region [0] appears bigger than Region [1].", "correct"),
    ("big_small", yes(), Q_BIG, "Yes, Region [0] is larger than Region [1].", "correct"),
    ("big_small", no(), Q_BIG, "No, Region [0] is smaller than Region [1].", "correct"),
    ("big_small", no(), Q_BIG, "Region [0] is smaller than Region [1].", "correct"),
    ("big_small", yes(), Q_BIG, "Region [1] is smaller than Region [0].", "correct"),
    ("big_small", yes(), Q_BIG, "Region [1] is not as big as Region [0].", "correct"),
    ("big_small", no(), Q_BIG, "Region [0] is not larger than Region [1].", "correct"),
    ("big_small", yes(), Q_SMALL, "Incorrect, Region [0] is not smaller in size than Region [1].", "wrong"),
    ("big_small", no(), Q_SMALL, "Incorrect, Region [0] is not smaller in size than Region [1].", "correct"),
    ("big_small", yes(), Q_SMALL, "Yes, based on the image, Region [0] is smaller than Region [1].", "correct"),
    ("big_small", no(), Q_SMALL, "Yes, based on the image, Region [0] is smaller than Region [1].", "wrong"),
    ("big_small", yes(), Q_SMALL, "Correct, Region [0] is tiny compared to Region [1].", "correct"),
    ("big_small", no(), Q_SMALL, "Region [0] is bigger.", "correct"),
    ("big_small", no(), Q_SMALL, "It is larger.", "correct"),
    ("big_small", yes(), Q_SMALL, "They are about the same size.", "unparseable"),
    ("big_small", yes(), Q_SMALL, "Sure.", "correct"),
    # --- tall_short -------------------------------------------------------------------------------
    ("tall_short", pick(1), Q_TALL_WHICH, "Region [1] is taller.", "correct"),
    ("tall_short", pick(1), Q_TALL_WHICH, "Standing taller between the two is Region [1].", "correct"),
    ("tall_short", pick(1), Q_TALL_WHICH, "With more height is Region [0].", "wrong"),
    ("tall_short", pick(0), Q_TALL_WHICH, "Region [0] is taller than Region [1].", "correct"),
    ("tall_short", pick(0), Q_TALL_WHICH, "Region [1] is shorter than Region [0].", "correct"),
    ("tall_short", pick(0), Q_TALL_WHICH, "Region [1] is shorter.", "correct"),
    ("tall_short", pick(1), Q_TALL_WHICH, "Region [0] is shorter.", "correct"),
    ("tall_short", pick(1), Q_TALL_WHICH, "Region [0] is taller.", "wrong"),
    ("tall_short", pick(1), Q_TALL_WHICH, "Region 1", "correct"),
    ("tall_short", pick(1), Q_TALL_WHICH, "Both are the same height.", "unparseable"),
    ("tall_short", pick(1, NAMED), Q_NAMED_TALL, "The blue barrel is taller than the red crate.", "correct"),
    ("tall_short", pick(1, NAMED), Q_NAMED_TALL, "The blue barrel.", "correct"),
    ("tall_short", pick(1, NAMED), Q_NAMED_TALL, "The barrel.", "correct"),
    ("tall_short", pick(1, NAMED), Q_NAMED_TALL, "The red crate.", "wrong"),
    ("tall_short", pick(1, NAMED), Q_NAMED_TALL, "The red crate is shorter.", "correct"),
    ("tall_short", pick(1, NAMED), Q_NAMED_TALL, "The blue one.", "correct"),
    ("tall_short", pick(1, NAMED), Q_NAMED_TALL, "The green cabinet is the tallest object.", "unparseable"),
    ("tall_short", yes(), Q_SHORT, "Yes, Region [0] is shorter than Region [1].", "correct"),
    ("tall_short", no(), Q_SHORT, "No, Region [0] is taller than Region [1].", "correct"),
    ("tall_short", no(), Q_SHORT, "Region [0] is taller than Region [1].", "correct"),
    ("tall_short", yes(), Q_SHORT, "Region [0] is taller than Region [1].", "wrong"),
    ("tall_short", yes(), Q_SHORT, "Region [1] is taller.", "correct"),
    ("tall_short", no(), Q_SHORT, "Region [0] is not shorter than Region [1].", "correct"),
    # --- wide_thin --------------------------------------------------------------------------------
    ("wide_thin", yes(), Q_WIDE, "Yes, Region [0] is wider than Region [1].", "correct"),
    ("wide_thin", no(), Q_WIDE, "No, Region [0] is narrower than Region [1].", "correct"),
    ("wide_thin", no(), Q_WIDE, "Region [0] is thinner than Region [1].", "correct"),
    ("wide_thin", yes(), Q_WIDE, "Region [1] is thinner than Region [0].", "correct"),
    ("wide_thin", yes(), Q_WIDE, "Region [1] is narrower.", "correct"),
    ("wide_thin", no(), Q_WIDE, "Region [1] is wider.", "correct"),
    ("wide_thin", yes(), Q_WIDE, "In fact, Region [0] might be narrower than Region [1].", "wrong"),
    ("wide_thin", no(), Q_WIDE, "Yes.", "wrong"),
    ("wide_thin", pick(0), Q_THIN_WHICH, "Region [0] appears thinner.", "correct"),
    ("wide_thin", pick(0), Q_THIN_WHICH, "Region [1] is wider than Region [0].", "correct"),
    ("wide_thin", pick(0), Q_THIN_WHICH, "Region [1] is wider.", "correct"),
    ("wide_thin", pick(0), Q_THIN_WHICH, "Region [0] is wider.", "wrong"),
    ("wide_thin", pick(0), Q_THIN_WHICH, "Region [0]", "correct"),
    ("wide_thin", pick(0), Q_THIN_WHICH, "I cannot tell which one is thinner.", "unparseable"),
    # --- direct_distance -------------------------------------------------------------------------
    ("direct_distance", m(11.4), Q_DIST, "Region [0] and Region [1] are 11.4 meters apart.", "correct"),
    ("direct_distance", m(11.4), Q_DIST, "22.32 feet.", "wrong"),
    ("direct_distance", m(6.8), Q_DIST, "22.32 feet.", "correct"),
    ("direct_distance", m(2.0), Q_DIST, "The distance between Region [0] and Region [1] is approximately 2.3 meters.", "correct"),
    ("direct_distance", m(2.0), Q_DIST, "The distance between Region [0] and Region [1] is approximately 2.6 meters.", "wrong"),
    ("direct_distance", m(2.0), Q_DIST, "About 1.5 meters.", "correct"),
    ("direct_distance", m(2.0), Q_DIST, "About 1.4 meters.", "wrong"),
    ("direct_distance", m(2.0), Q_DIST, "2.5 m", "correct"),
    ("direct_distance", m(2.0), Q_DIST, "2.51 m", "wrong"),
    ("direct_distance", m(3.0), Q_DIST, "Region [0] is approximately 10 feet away from Region [1].", "correct"),
    ("direct_distance", m(3.0), Q_DIST, "They are roughly three meters apart.", "correct"),
    ("direct_distance", m(1.5), Q_DIST, "They are about one and a half meters apart.", "correct"),
    ("direct_distance", m(1.5), Q_DIST, "A meter and a half.", "correct"),
    ("direct_distance", m(1.0), Q_DIST, "About a meter.", "correct"),
    ("direct_distance", m(2.5), Q_DIST, "Between 2 and 3 meters.", "correct"),
    ("direct_distance", m(2.5), Q_DIST, "2-3 meters", "correct"),
    ("direct_distance", m(10.0), Q_DIST, "2-3 meters", "wrong"),
    ("direct_distance", m(4.0), Q_DIST, "The distance is 400 cm.", "correct"),
    ("direct_distance", m(4.0), Q_DIST, "The distance is 4000 mm.", "correct"),
    ("direct_distance", m(4.0), Q_DIST, "Region [0] is 4.", "correct"),
    ("direct_distance", m(4.0), Q_DIST, "It is not possible to determine the exact distance between Region [0] and Region [1] from the image.", "unparseable"),
    ("direct_distance", m(4.0), Q_DIST, "They are quite far apart.", "unparseable"),
    ("direct_distance", m(4.0), Q_DIST, "A few meters.", "unparseable"),
    ("direct_distance", m(4.0), Q_DIST, "Region [0] is close to Region [1].", "unparseable"),
    ("direct_distance", m(0.9), Q_DIST, "3 feet", "correct"),
    ("direct_distance", m(12.0), Q_DIST, "The two regions are 40 ft apart.", "correct"),
    ("direct_distance", m(0.3), Q_DIST, "about 12 inches", "correct"),
    # --- horizontal_distance ----------------------------------------------------------------------
    ("horizontal_distance", m(15.33), Q_HDIST, "They are 15.33 meters apart horizontally.", "correct"),
    ("horizontal_distance", m(15.33), Q_HDIST, "Region [0] and Region [1] are about 50 feet apart horizontally.", "correct"),
    ("horizontal_distance", m(15.33), Q_HDIST, "Region [0] and Region [1] are about 5 feet apart horizontally.", "wrong"),
    ("horizontal_distance", m(1.2), Q_HDIST, "The horizontal distance between Region [0] and Region [1] is approximately 1 meter.", "correct"),
    ("horizontal_distance", m(1.2), Q_HDIST, "Approximately 120 centimeters.", "correct"),
    ("horizontal_distance", m(1.2), Q_HDIST, "approximately 0.5 meters", "wrong"),
    ("horizontal_distance", m(0.5), Q_HDIST, "Half a meter.", "correct"),
    ("horizontal_distance", m(0.5), Q_HDIST, "twenty-five centimeters", "wrong"),
    ("horizontal_distance", m(2.0), Q_HDIST, "I'm sorry, but I cannot measure distances in this image.", "unparseable"),
    ("horizontal_distance", m(2.0), Q_HDIST, "Region [1] is 2.2 meters to the right of Region [0].", "correct"),
    # --- vertical_distance -------------------------------------------------------------------------
    ("vertical_distance", m(0.8), Q_VDIST, "The vertical distance between Region [0] and Region [1] is about 0.7 meters.", "correct"),
    ("vertical_distance", m(0.8), Q_VDIST, "Region [0] is about 80 cm higher than Region [1].", "correct"),
    ("vertical_distance", m(0.8), Q_VDIST, "Region [0] is about 2 feet above Region [1].", "correct"),
    ("vertical_distance", m(0.8), Q_VDIST, "Region [0] is about 2 meters above Region [1].", "wrong"),
    ("vertical_distance", m(0.8), Q_VDIST, "They are at the same height.", "unparseable"),
    ("vertical_distance", m(3.1), Q_VDIST, "10 feet", "correct"),
    ("vertical_distance", m(0.25), Q_VDIST, "A quarter of a meter.", "correct"),
    ("vertical_distance", m(0.6), Q_VDIST, "Two feet.", "correct"),
    # --- width -------------------------------------------------------------------------------------
    ("width", m(1.02), Q_WIDTH, "Region [0] is 2.17 meters wide.", "wrong"),
    ("width", m(1.02), Q_WIDTH, "The width of Region [0] is 1.02 meters.", "correct"),
    ("width", m(0.78), Q_WIDTH, "It is 35.9 inches wide.", "correct"),
    ("width", m(0.78), Q_WIDTH, "Region [0] is 77.56 centimeters wide.", "correct"),
    ("width", m(0.45), Q_WIDTH, "The width of Region [0] is approximately 2 feet.", "wrong"),
    ("width", m(0.6), Q_WIDTH, "The width of Region [0] is approximately 2 feet.", "correct"),
    ("width", m(0.8), Q_WIDTH, "Region [0] is 1.2 meters tall and 0.8 meters wide.", "correct"),
    ("width", m(1.2), Q_WIDTH, "Region [0] is 1.2 meters tall and 0.8 meters wide.", "wrong"),
    ("width", m(0.3), Q_WIDTH, "About a foot wide.", "correct"),
    ("width", m(0.45), Q_WIDTH, "A foot and a half.", "correct"),
    ("width", m(1.0), Q_WIDTH, "1.5-meter-wide", "wrong"),
    ("width", m(0.05), Q_WIDTH, "5 cm", "correct"),
    ("width", m(0.05), Q_WIDTH, "5 mm", "wrong"),
    ("width", m(0.6), Q_WIDTH, "The width of the object cannot be determined from the image alone.", "unparseable"),
    ("width", m(0.6), Q_WIDTH, "It is quite wide.", "unparseable"),
    ("width", m(0.6), Q_WIDTH, "0.6", "correct"),
    ("width", m(0.6), Q_WIDTH, "60", "wrong"),
    # --- height ------------------------------------------------------------------------------------
    ("height", m(0.25), Q_HEIGHT, "The height of Region [1] is 10.0 inches.", "correct"),
    ("height", m(0.25), Q_HEIGHT, "It is 48.47 centimeters.", "wrong"),
    ("height", m(0.48), Q_HEIGHT, "It is 48.47 centimeters.", "correct"),
    ("height", m(1.38), Q_HEIGHT, "Region [0] is 1.38 meters tall.", "correct"),
    ("height", m(1.7), Q_HEIGHT, "Region [0] is about 5 feet 6 inches tall.", "correct"),
    ("height", m(1.7), Q_HEIGHT, "5'6\"", "correct"),
    ("height", m(1.7), Q_HEIGHT, "about 6 feet", "correct"),
    ("height", m(1.7), Q_HEIGHT, "about 7 feet", "wrong"),
    ("height", m(62.2), Q_HEIGHT, "The height of Region [0] is 204.54 feet.", "correct"),
    ("height", m(1.0), Q_HEIGHT, "The height of Region [0] is approximately 1 meter.", "correct"),
    ("height", m(1.0), Q_HEIGHT, "The height of Region [0] is approximately 1.3 meters.", "wrong"),
    ("height", m(1.5), Q_HEIGHT, "One and a half meters.", "correct"),
    ("height", m(2.5), Q_HEIGHT, "Two and a half meters tall.", "correct"),
    ("height", m(1.2), Q_HEIGHT, "Region [0] is 1.2 meters tall and 0.8 meters wide.", "correct"),
    ("height", m(0.8), Q_HEIGHT, "Region [0] is 1.2 meters tall and 0.8 meters wide.", "wrong"),
    ("height", m(1.2), Q_HEIGHT, "Region [0] is 80 cm wide, and it is about 1.1 m tall.", "correct"),
    ("height", m(1.2), Q_HEIGHT, "The height of Region [0] cannot be accurately determined from the image.", "unparseable"),
    ("height", m(1.2), Q_HEIGHT, "Region [0] is a tall object.", "unparseable"),
    ("height", m(1.2), Q_HEIGHT, "It takes 5 minutes to climb.", "unparseable"),
    ("height", m(0.9), Q_HEIGHT, "About 3 ft.", "correct"),
    ("height", m(0.9), Q_HEIGHT, "36 in.", "correct"),
    ("height", m(0.9), Q_HEIGHT, "90cm", "correct"),
    ("height", m(0.9), Q_HEIGHT, "0.9m", "correct"),
    ("height", m(0.9), Q_HEIGHT, "1 1/2 feet", "wrong"),
    ("height", m(0.45), Q_HEIGHT, "1 1/2 feet", "correct"),
    ("height", m(3.0), Q_HEIGHT, "About three metres.", "correct"),
    # --- direction ---------------------------------------------------------------------------------
    ("direction", h(2), Q_DIR, "Region [0] will find Region [1] around the 2 o'clock direction.", "correct"),
    ("direction", h(2), Q_DIR, "If you are at Region [0], you will find Region [1] around the 2 o'clock direction.", "correct"),
    ("direction", h(12), Q_DIR, "If you are at Region [0], you will find Region [1] around the 11 o'clock direction.", "correct"),
    ("direction", h(12), Q_DIR, "If you are at Region [0], you will find Region [1] around the 1 o'clock direction.", "correct"),
    ("direction", h(12), Q_DIR, "If you are at Region [0], you will find Region [1] around the 2 o'clock direction.", "wrong"),
    ("direction", h(3), Q_DIR, "Region [1] is located at the 3 o'clock position relative to Region [0].", "correct"),
    ("direction", h(3), Q_DIR, "Region [1] is at three o’clock.", "correct"),
    ("direction", h(3), Q_DIR, "Region [1] is at 5 o'clock.", "wrong"),
    ("direction", h(10), Q_DIR, "At 10 oclock.", "correct"),
    ("direction", h(10), Q_DIR, "at the ten o clock position", "correct"),
    ("direction", h(10), Q_DIR, "Region [1] is to the left of Region [0].", "correct"),
    ("direction", h(9), Q_DIR, "Region [1] is on your left.", "correct"),
    ("direction", h(3), Q_DIR, "Region [1] is on the right side of Region [0].", "correct"),
    ("direction", h(3), Q_DIR, "Region [1] is to the left of Region [0].", "wrong"),
    ("direction", h(12), Q_DIR, "Region [1] is straight ahead.", "correct"),
    ("direction", h(6), Q_DIR, "Region [1] is directly behind you.", "correct"),
    ("direction", h(5), Q_DIR, "Region [1] is behind and to the right of Region [0].", "correct"),
    ("direction", h(11), Q_DIR, "Region [1] is ahead and to the left.", "correct"),
    ("direction", h(1), Q_DIR, "Between 12 and 1 o'clock.", "correct"),
    ("direction", h(2), Q_DIR, "Around 2:00.", "correct"),
    ("direction", h(2), Q_DIR, "About 60 degrees to the right.", "correct"),
    ("direction", h(10), Q_DIR, "About 60 degrees to the left.", "correct"),
    ("direction", h(6), Q_DIR, "It is difficult to determine the direction from this image.", "unparseable"),
    ("direction", h(6), Q_DIR, "Region [1] is near Region [0].", "unparseable"),
    ("direction", h(9), Q_DIR, "If you are standing at Region [0] and looking ahead, Region [1] would be to your left.", "correct"),
    ("direction", h(7), Q_DIR, "At 6 o'clock.", "correct"),
    ("direction", h(7), Q_DIR, "At 9 o'clock.", "wrong"),
    ("direction", h(12), Q_DIR, "12 o'clock", "correct"),
    ("direction", h(1), Q_DIR, "twelve o'clock", "correct"),
    # --- more LLaVA-1.5-style full sentences ----------------------------------------------------
    ("height", m(1.5), Q_HEIGHT, "Region [0] is approximately 1.5 meters tall, while Region [1] is approximately 2 meters tall.", "correct"),
    ("width", m(0.5), Q_WIDTH, "The red crate is about 0.5 meters wide and 0.8 meters deep.", "correct"),
    ("width", m(2.0), Q_WIDTH, "The width of Region [0] is approximately 2 meters (6.5 feet).", "correct"),
    ("height", m(0.5), Q_HEIGHT, "Region [0] is 50.", "wrong"),
    ("direct_distance", m(5.0), Q_DIST, "Based on the image, Region [0] and Region [1] appear to be approximately 5 meters apart.", "correct"),
    ("horizontal_distance", m(3.0), Q_HDIST, "The horizontal distance is 3 meters, and the vertical distance is 1 meter.", "correct"),
    ("vertical_distance", m(1.0), Q_VDIST, "The horizontal distance is 3 meters, and the vertical distance is 1 meter.", "correct"),
    ("vertical_distance", m(1.0), Q_VDIST, "Region [0] is approximately 1 meter higher than Region [1].", "correct"),
    ("left_right", yes(), Q_LEFT, "Yes, from the viewer's perspective, Region [0] is on the left side of Region [1].", "correct"),
    ("behind_front", no(), Q_BEHIND, "No, Region [0] is closer to the viewer than Region [1].", "correct"),
    ("big_small", no(), Q_BIG, "No, Region [0] appears smaller than Region [1] in the image.", "correct"),
    ("above_below", yes(), Q_ABOVE, "Yes, Region [0] is located above Region [1] in the image.", "correct"),
    ("tall_short", pick(0), Q_TALL_WHICH, "Region [0] is taller than Region [1], as it extends higher in the image.", "correct"),
    ("direction", h(12), Q_DIR, "Region [1] is located at the 12 o'clock position relative to Region [0].", "correct"),
    ("direction", h(3), Q_DIR, "Region [1] is to the right of Region [0], at about 3 o'clock.", "correct"),
]
