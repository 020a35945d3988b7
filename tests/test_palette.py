"""Arm palette: one colour per arm, readable on white (WCAG contrast >= 3:1), colour-blind safe
(simulated protanopia, deuteranopia, tritanopia), control always the same grey.

The colour-vision simulation (Machado et al. 2009, severity 1) and CIEDE2000 (Sharma et al.
2005) are implemented here, checked against the published test pairs, so that the palette
module stays a list of colours.
"""

from __future__ import annotations

import numpy as np
import pytest

from mentor_eval.errors import ParameterError
from mentor_eval.report import palette
from mentor_eval.report.palette import (
    ARM_PALETTE_8,
    ARM_PALETTE_15,
    CONTROL_GREY,
    arm_colors,
    contrast_ratio,
    relative_luminance,
)

# Machado, Oliveira & Fernandes (2009), table of simulation matrices, severity 1.0 (linear RGB)
MACHADO = {
    "normal": np.eye(3),
    "protanopia": np.array([[0.152286, 1.052583, -0.204868], [0.114503, 0.786281, 0.099216],
                            [-0.003882, -0.048116, 1.051998]]),
    "deuteranopia": np.array([[0.367322, 0.860646, -0.227968], [0.280085, 0.672501, 0.047413],
                              [-0.011820, 0.042940, 0.968881]]),
    "tritanopia": np.array([[1.255528, -0.076749, -0.178779], [-0.078411, 0.930809, 0.147602],
                            [0.004733, 0.691367, 0.303900]]),
}
_XYZ = np.array([[0.4124564, 0.3575761, 0.1804375], [0.2126729, 0.7151522, 0.0721750],
                 [0.0193339, 0.1191920, 0.9503041]])
_D65 = np.array([0.95047, 1.0, 1.08883])


def _linear(colors: list[str]) -> np.ndarray:
    c = np.array([[int(h[i:i + 2], 16) / 255 for i in (1, 3, 5)] for h in colors])
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def _lab(linear_rgb: np.ndarray) -> np.ndarray:
    xyz = linear_rgb @ _XYZ.T / _D65
    f = np.where(xyz > 216 / 24389, np.cbrt(xyz), (24389 / 27 * xyz + 16) / 116)
    return np.stack([116 * f[:, 1] - 16, 500 * (f[:, 0] - f[:, 1]), 200 * (f[:, 1] - f[:, 2])], axis=-1)


def delta_e2000(lab1: np.ndarray, lab2: np.ndarray) -> np.ndarray:
    """CIEDE2000 colour difference (Sharma, Wu & Dalal 2005, equations 1-22)."""
    L1, a1, b1 = np.moveaxis(np.asarray(lab1, float), -1, 0)
    L2, a2, b2 = np.moveaxis(np.asarray(lab2, float), -1, 0)
    cbar = (np.hypot(a1, b1) + np.hypot(a2, b2)) / 2
    g = 0.5 * (1 - np.sqrt(cbar**7 / (cbar**7 + 25.0**7)))
    a1p, a2p = (1 + g) * a1, (1 + g) * a2
    c1p, c2p = np.hypot(a1p, b1), np.hypot(a2p, b2)
    h1 = np.degrees(np.arctan2(b1, a1p)) % 360
    h2 = np.degrees(np.arctan2(b2, a2p)) % 360
    zero = c1p * c2p == 0
    dh = h2 - h1
    dh = np.where(dh > 180, dh - 360, np.where(dh < -180, dh + 360, dh))
    dh = np.where(zero, 0.0, dh)
    d_l, d_c = L2 - L1, c2p - c1p
    d_h = 2 * np.sqrt(c1p * c2p) * np.sin(np.radians(dh / 2))
    lbar, cbarp = (L1 + L2) / 2, (c1p + c2p) / 2
    hsum = h1 + h2
    hbar = np.where(np.abs(h1 - h2) > 180, np.where(hsum < 360, (hsum + 360) / 2, (hsum - 360) / 2), hsum / 2)
    hbar = np.where(zero, hsum, hbar)
    t = (1 - 0.17 * np.cos(np.radians(hbar - 30)) + 0.24 * np.cos(np.radians(2 * hbar))
         + 0.32 * np.cos(np.radians(3 * hbar + 6)) - 0.20 * np.cos(np.radians(4 * hbar - 63)))
    d_theta = 30 * np.exp(-(((hbar - 275) / 25) ** 2))
    r_c = 2 * np.sqrt(cbarp**7 / (cbarp**7 + 25.0**7))
    s_l = 1 + 0.015 * (lbar - 50) ** 2 / np.sqrt(20 + (lbar - 50) ** 2)
    s_c = 1 + 0.045 * cbarp
    s_h = 1 + 0.015 * cbarp * t
    r_t = -np.sin(np.radians(2 * d_theta)) * r_c
    return np.sqrt((d_l / s_l) ** 2 + (d_c / s_c) ** 2 + (d_h / s_h) ** 2 + r_t * (d_c / s_c) * (d_h / s_h))


def smallest_difference(colors: list[str]) -> dict[str, float]:
    """Per vision type, the smallest CIEDE2000 difference between any two of ``colors``."""
    out = {}
    for kind, m in MACHADO.items():
        lab = _lab(np.clip(_linear(colors) @ m.T, 0, 1))
        d = delta_e2000(lab[:, None, :], lab[None, :, :])
        np.fill_diagonal(d, np.inf)
        out[kind] = float(d.min())
    return out


# --------------------------------------------------------------------------- the yardsticks


def test_contrast_ratio_matches_wcag_known_values():
    assert contrast_ratio("#000000") == pytest.approx(21.0)
    assert contrast_ratio("#FFFFFF") == pytest.approx(1.0)
    # #767676 is the lightest grey reaching 4.5:1 on white; #777777 just misses it (4.48)
    assert contrast_ratio("#767676") == pytest.approx(4.54, abs=0.005)
    assert contrast_ratio("#777777") == pytest.approx(4.48, abs=0.005)
    assert relative_luminance("#FF0000") == pytest.approx(0.2126)
    assert contrast_ratio("#FFFFFF", "#767676") == contrast_ratio("#767676", "#FFFFFF")
    with pytest.raises(ParameterError):
        relative_luminance("#FFF")


@pytest.mark.parametrize(("lab1", "lab2", "expected"), [
    # Sharma, Wu & Dalal (2005), table 1: pairs 1, 7, 17, 25
    ((50.0, 2.6772, -79.7751), (50.0, 0.0, -82.7485), 2.0425),
    ((50.0, 0.0, 0.0), (50.0, -1.0, 2.0), 2.3669),
    ((50.0, 2.5, 0.0), (73.0, 25.0, -18.0), 27.1492),
    ((60.2574, -34.0099, 36.2677), (60.4626, -34.1751, 39.4387), 1.2644),
])
def test_ciede2000_matches_the_published_pairs(lab1, lab2, expected):
    assert float(delta_e2000(np.array(lab1), np.array(lab2))) == pytest.approx(expected, abs=1e-4)


def test_simulation_matrices_keep_white_white():
    for m in MACHADO.values():
        np.testing.assert_allclose(m.sum(axis=1), 1.0, atol=2e-6)


# --------------------------------------------------------------------------- the palettes


@pytest.mark.parametrize("colour", sorted({*ARM_PALETTE_8, *ARM_PALETTE_15, CONTROL_GREY}))
def test_every_arm_colour_reaches_3_to_1_on_white(colour):
    assert contrast_ratio(colour) >= 3.0, (colour, contrast_ratio(colour))


def test_old_light_colours_would_fail_the_rule():
    # why orange, sky blue, yellow (Okabe-Ito) are not arm colours: the rule bites
    for name in ("orange", "sky_blue", "yellow"):
        assert contrast_ratio(palette.OKABE_ITO[name]) < 3.0


@pytest.mark.parametrize(("colours", "floor"), [(ARM_PALETTE_8, 12.0), (ARM_PALETTE_15, 9.0)])
def test_palettes_are_colour_blind_safe(colours, floor):
    assert len(set(colours)) == len(colours)
    worst = smallest_difference([*colours, CONTROL_GREY])
    assert set(worst) == {"normal", "protanopia", "deuteranopia", "tritanopia"}
    assert min(worst.values()) >= floor, worst


def test_every_leading_part_of_the_fifteen_palette_stays_spread():
    # a study with nine arms takes the first nine: they must be at least as far apart as all fifteen
    full = min(smallest_difference([*ARM_PALETTE_15, CONTROL_GREY]).values())
    for k in range(9, 16):
        assert min(smallest_difference([*ARM_PALETTE_15[:k], CONTROL_GREY]).values()) >= full - 1e-9


@pytest.mark.parametrize("n_arms", range(1, 17))
def test_arm_colours_one_per_arm_control_grey(n_arms):
    arms = ["control", *(f"model_{i}" for i in range(n_arms))]
    colours = arm_colors(arms, control="control")
    assert colours["control"] == CONTROL_GREY
    mentored = [colours[a] for a in arms[1:]]
    assert CONTROL_GREY not in mentored
    assert all(contrast_ratio(c) >= 3.0 for c in mentored)
    if n_arms <= 15:
        assert len(set(mentored)) == n_arms
    # the same arm keeps its colour however the arms are listed for one figure
    assert arm_colors(arms, control="control") == colours
    assert mentored[0] == "#0072B2"


def test_study_colours_are_keyed_by_arm_and_label():
    class _Study:
        arm_keys = ("control", "a", "b")
        control_arm = "control"

    c = palette.study_arm_colors(_Study(), {"a": "Program A", "control": "Control"})
    assert c["a"] == c["Program A"] == ARM_PALETTE_8[0]
    assert c["control"] == c["Control"] == CONTROL_GREY
    assert c["b"] == ARM_PALETTE_8[1]
