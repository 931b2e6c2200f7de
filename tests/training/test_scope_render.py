"""The drawn CT, MR and ultrasound negatives: seeded, uint8, shaped like a scanner's display."""
import numpy as np
import pytest

from core.training import scope_render as draw

DRAWERS = [draw.synthetic_ct, draw.synthetic_mr, draw.synthetic_us, draw.synthetic_body_slice, draw.synthetic_us_linear]


@pytest.mark.parametrize("drawer", DRAWERS, ids=lambda f: f.__name__)
def test_drawers_are_seeded_uint8_pictures(drawer):
    a, b = drawer(np.random.default_rng(3)), drawer(np.random.default_rng(3))
    assert a.dtype == np.uint8 and np.array_equal(a, b)
    assert a.ndim in (2, 3) and min(a.shape[:2]) >= 180 and max(a.shape[:2]) <= 1200
    assert a.std() > 10  # not a blank frame (blank frames are the rule family's)


def test_axial_anatomy_has_air_body_and_bone():
    labels = draw._axial_anatomy(np.random.default_rng(0), 128)
    assert labels[0, 0] == 0 and {1, 2, 4} <= set(np.unique(labels).tolist())
