"""The body pain map: front and back outlines with the vocabulary's regions on each side.

Shapes are drawn here (viewBox 0 0 200 440 per view). On the front view the patient's
right side is on the viewer's left, as when facing the patient; on the back view it is on
the viewer's right. Each shape is one (region, side) of ``regions.toml``; coarse regions
(hip, thigh, leg) are not drawn: the map asks for the specific place.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from hipspine.clinical.vocabulary import Side, regions

SILHOUETTE = (
    "M100 14a24 24 0 1 1 0 48a24 24 0 1 1 0-48z"  # head
    "M88 62h24v12H88z"  # neck
    "M62 76q38-10 76 0l10 6 14 92q2 10-8 12l-8-60-6 50q6 16 4 30l-4 8"
    "-6 96 2 8-2 80q8 6 6 16h-30l2-22-4-80-4-78h-12l-4 78-4 80 2 22h-30"
    "q-2-10 6-16l-2-80 2-8-6-96-4-8q-2-14 4-30l-6-50-8 60q-10-2-8-12l14-92z"
)

# Shapes for the patient's LEFT side on the front view and the patient's LEFT side on the
# back view; the right side is their mirror image. ("rect", x, y, w, h) or
# ("ellipse", cx, cy, rx, ry).
_FRONT_LEFT = {
    "groin": ("ellipse", 114, 206, 11, 9),
    "lateral_hip": ("ellipse", 140, 196, 8, 14),
    "thigh_anterior": ("rect", 110, 218, 20, 68),
    "thigh_lateral": ("rect", 131, 214, 9, 72),
    "thigh_medial": ("rect", 102, 222, 7, 58),
    "knee": ("ellipse", 118, 302, 12, 11),
    "lower_leg": ("rect", 108, 316, 20, 76),
    "foot": ("ellipse", 120, 412, 12, 8),
}
_BACK_LEFT = {
    "sacroiliac": ("ellipse", 90, 192, 7, 7),
    "buttock": ("ellipse", 80, 214, 16, 14),
    "lateral_hip": ("ellipse", 60, 196, 8, 14),
    "thigh_posterior": ("rect", 70, 232, 24, 56),
    "thigh_lateral": ("rect", 60, 214, 9, 72),
    "knee": ("ellipse", 82, 302, 12, 11),
    "lower_leg": ("rect", 72, 316, 20, 76),
    "foot": ("ellipse", 80, 412, 12, 8),
}
_MIDLINE = {"lumbar": ("back", ("rect", 84, 150, 32, 32))}
HIT = 10.0
"""The smallest tap target, in drawing units, either way."""


@dataclass(frozen=True)
class Shape:
    """One clickable (region, side) on one view."""

    view: str
    region: str
    side: str
    label: str
    kind: str
    x: float
    y: float
    w: float
    h: float

    @property
    def field(self) -> str:
        """The form field holding this region and side's intensity."""
        return f"pain.{self.region}.{self.side}"

    @property
    def hit(self) -> tuple[float, float, float, float]:
        """The invisible tap target (x, y, width, height): the shape's box, widened to at
        least ``HIT`` units each way about its centre. Phones draw the legs at about 2.7 px a
        unit, so every target is at least 24 × 24 CSS px (WCAG 2.2, 2.5.8 Target Size)."""
        if self.kind == "ellipse":
            x, y, w, h = self.x - self.w, self.y - self.h, 2 * self.w, 2 * self.h
        else:
            x, y, w, h = self.x, self.y, self.w, self.h
        grow_w, grow_h = max(0.0, HIT - w) / 2, max(0.0, HIT - h) / 2
        return (x - grow_w, y - grow_h, w + 2 * grow_w, h + 2 * grow_h)


def _mirror(
    shape: tuple[str, float, float, float, float],
) -> tuple[str, float, float, float, float]:
    kind, a, b, c, d = shape
    if kind == "ellipse":
        return (kind, 200 - a, b, c, d)
    return (kind, 200 - a - c, b, c, d)


@cache
def shapes() -> tuple[Shape, ...]:
    """Every shape of both views."""
    found = []
    vocabulary = regions()
    for view, table in (("front", _FRONT_LEFT), ("back", _BACK_LEFT)):
        for region, left in table.items():
            label = vocabulary[region].label
            # Front: patient's left is on the viewer's right (as drawn); back: on the left.
            for side, shape in (("left", left), ("right", _mirror(left))):
                found.append(Shape(view, region, side, f"{label}, {side}", *shape))
    for region, (view, shape) in _MIDLINE.items():
        found.append(Shape(view, region, "midline", f"{vocabulary[region].label}, midline", *shape))
    return tuple(found)


@dataclass(frozen=True)
class MapRow:
    """One region of the map's table: its label and the sides it may be rated on."""

    region: str
    label: str
    sides: tuple[str, ...]


MAP_SIDES = ("right", "left", "midline")


@cache
def rows() -> tuple[MapRow, ...]:
    """The regions on the map, in vocabulary order, with the sides the map offers."""
    drawn = {s.region for s in shapes()}
    out = []
    for region in regions().values():
        if region.id not in drawn:
            continue
        sides = tuple(s for s in MAP_SIDES if Side(s) in region.sides)
        out.append(MapRow(region.id, region.label, sides))
    return tuple(out)


def read(form: dict[str, str]) -> tuple[list[dict[str, object]], list[str]]:
    """The pain entries given in a form (``pain.REGION.SIDE`` = 0–10) and any errors."""
    entries: list[dict[str, object]] = []
    errors = []
    for row in rows():
        for side in row.sides:
            raw = (form.get(f"pain.{row.region}.{side}") or "").strip()
            if not raw:
                continue
            try:
                value = int(raw)
            except ValueError:
                errors.append(f"{row.label} ({side}): give a whole number from 0 to 10")
                continue
            if not 0 <= value <= 10:
                errors.append(f"{row.label} ({side}): give a whole number from 0 to 10")
                continue
            entries.append({"region": row.region, "side": side, "intensity": value})
    return entries, errors
