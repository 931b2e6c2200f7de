"""The localiser's boxes drawn on the original radiograph: solid for findings that pass the balanced
operating point, dashed for those that pass only the high-sensitivity one, each with its score."""
from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from core.serving.verdict import FoundBox

SOLID = (255, 60, 60)  # passes the balanced point
DASHED = (255, 200, 0)  # passes the high-sensitivity point only


def _dashed_line(img: np.ndarray, p0: tuple[int, int], p1: tuple[int, int], colour: tuple[int, int, int],
                 thickness: int, dash: int) -> None:
    length = max(abs(p1[0] - p0[0]), abs(p1[1] - p0[1]))
    for start in range(0, length, 2 * dash):
        a, b = start / max(length, 1), min(start + dash, length) / max(length, 1)
        q0 = (round(p0[0] + (p1[0] - p0[0]) * a), round(p0[1] + (p1[1] - p0[1]) * a))
        q1 = (round(p0[0] + (p1[0] - p0[0]) * b), round(p0[1] + (p1[1] - p0[1]) * b))
        cv2.line(img, q0, q1, colour, thickness, cv2.LINE_8)


def _rectangle(img: np.ndarray, box: FoundBox, thickness: int) -> None:
    x0, y0, x1, y1 = (round(v) for v in box.xyxy)
    if box.level == "balanced":
        cv2.rectangle(img, (x0, y0), (x1, y1), SOLID, thickness, cv2.LINE_8)
        return
    corners = [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]
    for a, b in zip(corners, corners[1:] + corners[:1]):
        _dashed_line(img, a, b, DASHED, thickness, dash=max(4, 3 * thickness))


def draw_findings(gray: np.ndarray, boxes: Sequence[FoundBox]) -> np.ndarray:
    """An RGB copy of the radiograph with each box outlined and its score written above it."""
    img = np.repeat(gray[:, :, None], 3, axis=2).copy() if gray.ndim == 2 else gray.copy()
    thickness = max(1, round(max(img.shape[:2]) / 250))
    scale = max(0.4, max(img.shape[:2]) / 900)
    for rank, box in enumerate(boxes, 1):
        _rectangle(img, box, thickness)
        colour = SOLID if box.level == "balanced" else DASHED
        x0, y0 = round(box.xyxy[0]), round(box.xyxy[1])
        label = f"{rank}: {box.score:.2f}"
        cv2.putText(img, label, (x0, max(12, y0 - 4)), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), thickness + 2,
                    cv2.LINE_AA)
        cv2.putText(img, label, (x0, max(12, y0 - 4)), cv2.FONT_HERSHEY_SIMPLEX, scale, colour, thickness, cv2.LINE_AA)
    return img
