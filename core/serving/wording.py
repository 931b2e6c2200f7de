"""Every clinical word a user reads, in one place: the app, the PDF, the CSV and the CLI use these."""
from __future__ import annotations

from typing import Any

from core.models.cards import BALANCED, HIGH_SENSITIVITY, OPERATING_POINTS

NOTICE = ("Decision-support aid, not a diagnosis. The verdicts come from models trained on one public "
          "data set (FracAtlas); a clinician reads every image and makes the call.")
OP_LABELS = {HIGH_SENSITIVITY: "High sensitivity", BALANCED: "Balanced"}
OP_HELP = ("High sensitivity misses fewer fractures but raises more false alarms; balanced weighs "
           "missed fractures and false alarms equally (Youden's J on validation data).")
HEADLINE = {True: "FRACTURE SUSPECTED", False: "NO FRACTURE FOUND"}
SHORT = {True: "fracture", False: "no fracture"}
WORKLIST = {True: "fracture suspected", False: "no fracture found"}
CANNOT_ANALYSE = "Cannot analyse this file"
UNCERTAIN = ("Uncertain — a second read is recommended. The models disagree or the probability lies "
             "close to the threshold (rule fitted on validation data).")
OVERRIDDEN = "out-of-scope check overridden by the user"
OVERRIDE_CAUTION = ("The out-of-scope check was overridden by the user: this image did not look like a bone "
                    "X-ray to the checker, so read the verdict with extra caution.")
AUTO_INVERTED = ("This image looked inverted (bone dark on a light background), so it was turned back to "
                 "bone-light before analysis; the images shown are the turned-back ones.")
TURNS = {1: "turned by a quarter turn", 2: "upside down", 3: "turned by a quarter turn"}


def auto_turned(quarter_turns: int) -> str:
    """The warning for an image the orientation check turned upright before the models read it."""
    return (f"This image looked {TURNS[quarter_turns % 4]}, so the models read it turned back upright; the boxes "
            "and heat maps are shown on the image as it came. Check the verdict if the image was the right way up.")


HEATMAP_CAPTION = ("Heat maps show the image regions that pushed each model towards *fracture*; they are "
                   "not fracture outlines. Warm colours = more influence.")


def out_of_scope(reason: str) -> str:
    """The refusal a user reads when the gate says the image is not a bone radiograph."""
    return f"This does not look like a bone X-ray: {reason}."


def op_label(op: str) -> str:
    """'High sensitivity' / 'Balanced'; ValueError names an unknown operating point."""
    if op not in OP_LABELS:
        raise ValueError(f"operating point must be one of {OPERATING_POINTS}, got {op!r}")
    return OP_LABELS[op]


def probability_and_threshold(probability: float, threshold: float) -> tuple[str, str]:
    """Both as percentages, with as many decimals (up to 2) as it takes for them to read differently when they
    differ: never "3 %, below the threshold of 3 %"."""
    for digits in (0, 1, 2):
        p, t = f"{probability:.{digits}%}", f"{threshold:.{digits}%}"
        if p != t:
            break
    return p, t


def decided_by(name: str | None, uses_boxes: bool = False) -> str:
    """'the ensemble', 'the ensemble with the fracture localiser's evidence' or 'model NAME'."""
    if name != "ensemble":
        return f"model {name}"
    return "the ensemble with the fracture localiser's evidence" if uses_boxes else "the ensemble"


def with_interval(value: float, interval: list[float] | tuple[float, float] | None) -> str:
    """'94 % (88–98 %)' when an interval is known, else '94 %'."""
    if not interval:
        return f"{value:.0%}"
    return f"{value:.0%} ({interval[0]:.0%}–{interval[1]:.0%})"


def setting_summary(s: dict[str, Any]) -> str:
    """'In testing: sensitivity 94 % (88–98 %), specificity 73 % (69–77 %).'"""
    return (f"In testing: sensitivity {with_interval(s['sensitivity'], s.get('sensitivity_ci'))}, "
            f"specificity {with_interval(s['specificity'], s.get('specificity_ci'))}.")


def plain_words(s: dict[str, Any], who: str) -> str:
    """'At this setting the ensemble found 95 % of fractures in testing …', from the card's test figures."""
    pos, neg = s["tp"] + s["fn"], s["tn"] + s["fp"]
    return (f"At this setting {who} found {s['sensitivity']:.0%} of fractures in testing "
            f"({s['tp']} of {pos}) and raised a false alarm on {1 - s['specificity']:.0%} of normal "
            f"images ({s['fp']} of {neg}), on the held-out FracAtlas test split.")
BOXES_CAPTION = ("Boxes mark where the fracture localiser (trained on the radiologists' FracAtlas boxes) "
                 "found fracture-like findings: **solid red** passes the balanced setting, **dashed amber** "
                 "only the high-sensitivity one (shown in that setting); the number is the box's score. "
                 "A box is a place to look, not a diagnosis.")
VERDICT_AND_BOXES = {True: "The verdict above adds the top box's score to the models' (fitted on the validation "
                           "split, where it raised the ROC-AUC).",
                     False: "The verdict above does not depend on the boxes."}


def boxes_caption(uses_boxes: bool) -> str:
    """What the boxes mean and whether the verdict depends on them."""
    return f"{BOXES_CAPTION} {VERDICT_AND_BOXES[bool(uses_boxes)]}"
NO_BOXES = "The localiser found no fracture-like finding above its high-sensitivity threshold on this image."
NO_LOCALIZER = "No fracture localiser is installed (weights/localizer.json): only heat maps are shown."


def box_line(rank: int, box: Any) -> str:
    """'1. score 0.62 (balanced) at x 120–168, y 40–77 px'."""
    x0, y0, x1, y1 = box.xyxy
    return (f"{rank}. score {box.score:.2f} ({OP_LABELS[box.level].lower()}) at x {x0:.0f}–{x1:.0f}, "
            f"y {y0:.0f}–{y1:.0f} px")


def localizer_summary(metrics: dict[str, Any]) -> str:
    """'On the test split the top box lay on a radiologist's box in 61 % of fractured images; AP50 0.42.'"""
    return (f"In testing the localiser's top box lay on a radiologist's box in {metrics['pointing']:.0%} of "
            f"{metrics['n_fractured_with_boxes']} fractured images; box AP at IoU 0.5 {metrics['ap50']:.2f}.")


DEGRADED = {"noise": ("This image looks noisy (estimated noise {value:.1f} grey levels; the check flags more than "
                      "{threshold:.1f}, which {share:.1%} of FracAtlas validation radiographs exceed)."),
            "jpeg": ("This image looks strongly JPEG-compressed (block artefacts {value:.2f}× the image's own grain; "
                     "the check flags more than {threshold:.2f}, which {share:.1%} of FracAtlas validation radiographs "
                     "exceed).")}
DEGRADED_EFFECT = {"noise": "with noise of {level:g} grey levels added", "jpeg": "saved at JPEG quality {level:g}"}


def degraded(name: str, value: float, threshold: float, effect: Any = None, operating_point: str = HIGH_SENSITIVITY,
             share: float = 0.005) -> str:
    """The caution for an image the quality check flags, with what that degradation did to the models in testing."""
    if name not in DEGRADED:
        raise ValueError(f"quality measurement must be one of {sorted(DEGRADED)}, got {name!r}")
    text = DEGRADED[name].format(value=value, threshold=threshold, share=share)
    if effect is not None and operating_point in effect.specificity:
        plain, shifted = effect.specificity[operating_point]
        text += (f" Such images raise more false alarms: in testing, {DEGRADED_EFFECT[name].format(level=effect.level)},"
                 f" specificity at the {op_label(operating_point).lower()} setting fell from {plain:.0%} to "
                 f"{shifted:.0%}.")
    return text + " Prefer the original image from the PACS when there is one."
