"""What one analysis returns: plain data, free of torch, so reports and pages can import it cheaply."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class MemberResult:
    """One model's verdict on one image."""

    name: str
    probability: float
    fractured: bool
    threshold: float
    in_ensemble: bool


@dataclass
class FoundBox:
    """One box the localiser found: corners in pixels of the image as loaded (top-left origin), its score
    and the strictest operating point it passes ('balanced', else 'high_sensitivity')."""

    xyxy: list[float]
    score: float
    level: str


@dataclass
class Result:
    """The answer for one file: a verdict, or an error message for the user."""

    file: str
    error: str | None = None
    probability: float | None = None
    fractured: bool | None = None
    operating_point: str | None = None
    threshold: float | None = None
    decided_by: str | None = None
    agreement: float | None = None
    uncertain: bool | None = None
    out_of_scope: bool = False
    scope_overridden: bool = False
    scope_reason: str | None = None
    members: list[MemberResult] = field(default_factory=list)
    boxes: list[FoundBox] = field(default_factory=list)
    localized: bool = False  # whether a fracture localiser looked at this image (boxes may still be empty)
    uses_boxes: bool = False  # whether the verdict adds the localiser's top box score (a fused ensemble card)
    image: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def shown_boxes(self) -> list[FoundBox]:
        """The boxes a reader sees at this result's setting: all at high sensitivity, the balanced ones otherwise."""
        return [b for b in self.boxes if self.operating_point == "high_sensitivity" or b.level == "balanced"]

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return asdict(self)
