"""The localiser network, its card and its loading: shapes per trunk, typed card, sha256 check."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from core.data.preprocess import preprocess
from core.errors import WeightsError
from core.models.localizer import (
    Localizer,
    LocalizerCard,
    build_localizer,
    load_localizer,
    localize,
    mirror_merge,
    read_localizer_card,
    run_heads,
    top_box_scores,
)
from core.models.registry import REGISTRY, create_model
from core.models.weights import find_cards

MOBILE = [n for n, s in REGISTRY.items() if getattr(getattr(s.factory, "func", None), "__name__", "") == "timm_mobile"]


def test_both_shipped_trunks_are_mobile():
    assert set(MOBILE) == {"efficientnet_lite0", "mobilenet_v2"}


@pytest.mark.parametrize("trunk", MOBILE)
def test_heads_sit_on_a_stride_8_grid(trunk):
    net = Localizer(create_model(trunk)).eval()
    heat, size, offset = net(torch.zeros(2, 3, 96, 96))
    assert heat.shape == (2, 1, 12, 12) and size.shape == offset.shape == (2, 2, 12, 12)
    # the heat head starts at the prior: nowhere is a fracture yet
    assert torch.sigmoid(heat).mean().item() == pytest.approx(0.01, abs=0.01)


def test_a_non_mobile_trunk_is_refused():
    with pytest.raises(ValueError, match="timm mobile"):
        Localizer(create_model("custom_cnn"))


def test_frozen_stem_has_no_gradients():
    net = Localizer(create_model("efficientnet_lite0"))
    net.freeze_stem()
    assert not any(p.requires_grad for p in net.stem.parameters())
    assert all(p.requires_grad for p in net.heat.parameters())


def test_card_round_trip_and_validation(localized):
    card = read_localizer_card(localized / "weights" / "localizer.json")
    assert isinstance(card, LocalizerCard) and card.trunk == "efficientnet_lite0"
    assert LocalizerCard.from_dict(card.to_dict()) == card
    bad = card.to_dict() | {"thresholds": {"balanced": 0.5}}
    with pytest.raises(WeightsError, match="high_sensitivity"):
        LocalizerCard.from_dict(bad)
    with pytest.raises(WeightsError, match="multiple of 32"):
        LocalizerCard.from_dict(card.to_dict() | {"preprocess": card.preprocess.with_(size=100).to_dict()})


def test_the_localizer_is_not_taken_for_a_classifier(localized):
    assert "localizer" not in [p.stem for p in find_cards(localized / "weights")]


def test_replaced_weights_are_refused(localized, tmp_path):
    shutil.copytree(localized / "weights", tmp_path / "w")
    path = tmp_path / "w" / "localizer.safetensors"
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="sha256"):
        load_localizer(tmp_path / "w" / "localizer.json")


def test_boxes_are_on_the_image_as_loaded_highest_first(localized, xray_gray):
    net, card = load_localizer(localized / "weights" / "localizer.json")
    found = localize(net, xray_gray, card)
    assert 0 < len(found) <= card.top_k
    scores = [s for _, s in found]
    assert scores == sorted(scores, reverse=True)
    h, w = xray_gray.shape
    for (x, y, bw, bh), s in found:
        assert x >= 0 and y >= 0 and x + bw <= w + 1e-6 and y + bh <= h + 1e-6 and bw > 0 and bh > 0
        assert 0 < s < 1
    assert localize(net, xray_gray, card, min_score=1.0) == []


def test_an_untrained_localizer_matches_the_card_shape(localized):
    card = read_localizer_card(localized / "weights" / "localizer.json")
    net = build_localizer(card)
    saved = json.loads((localized / "weights" / "localizer.json").read_text())
    assert saved["width"] == card.width
    assert np.isfinite(sum(p.sum().item() for p in net.parameters()))


def test_a_card_naming_an_unfit_trunk_is_a_weights_error(localized):
    card = read_localizer_card(localized / "weights" / "localizer.json")
    with pytest.raises(WeightsError, match="custom_cnn"):
        build_localizer(card.with_(trunk="custom_cnn"))
    with pytest.raises(WeightsError, match="nonexistent"):
        build_localizer(card.with_(trunk="nonexistent"))


def test_the_sides_regression_has_four_distances_per_cell():
    net = Localizer(create_model("efficientnet_lite0"), regression="sides").eval()
    heat, sides = net(torch.zeros(2, 3, 96, 96))
    assert heat.shape == (2, 1, 12, 12) and sides.shape == (2, 4, 12, 12)
    assert set(net.state_dict()) >= {"heat.2.bias", "sides.2.bias"} and not hasattr(net, "offset")
    with pytest.raises(ValueError, match="regression must be one of"):
        Localizer(create_model("efficientnet_lite0"), regression="corners")


def test_mirror_merge_averages_in_the_image_frame():
    heat = torch.zeros(1, 1, 2, 4)
    heat[0, 0, 0, 0] = 4.0  # a peak at the left edge …
    sides = torch.zeros(1, 4, 2, 4)
    sides[0, 0] = 1.0  # … with a long left side
    m_heat, m_sides = heat.flip(-1), sides.flip(-1)[:, [2, 1, 0, 3]]  # what the mirror image gives
    merged_heat, merged_sides = mirror_merge((heat, sides), (m_heat, m_sides))
    assert torch.equal(merged_heat, heat) and torch.equal(merged_sides, sides)
    lopsided = mirror_merge((heat, sides), (torch.zeros_like(heat), torch.zeros_like(sides)))
    assert lopsided[0][0, 0, 0, 0].item() == 2.0 and lopsided[1][0, 0, 0, 0].item() == 0.5


def test_card_regression_and_mirror_are_checked(localized):
    card = read_localizer_card(localized / "weights" / "localizer.json")
    assert card.regression == "sides"  # the fit's default
    with pytest.raises(WeightsError, match="regression must be one of"):
        LocalizerCard.from_dict(card.to_dict() | {"regression": "corners"})
    with pytest.raises(WeightsError, match="mirror averaging needs"):
        LocalizerCard.from_dict(card.to_dict() | {"regression": "centre", "mirror": True})


def test_a_mirrored_sides_localizer_finds_boxes_on_the_image(localized, xray_gray):
    card = read_localizer_card(localized / "weights" / "localizer.json").with_(regression="sides", mirror=True)
    torch.manual_seed(0)
    net = build_localizer(card).eval()
    found = localize(net, xray_gray, card)
    assert 0 < len(found) <= card.top_k
    h, w = xray_gray.shape
    assert all(x >= 0 and y >= 0 and x + bw <= w + 1e-6 and y + bh <= h + 1e-6 for (x, y, bw, bh), _ in found)
    assert top_box_scores(net, [xray_gray], card)[0] == pytest.approx(found[0][1])


def test_the_mirror_images_ride_in_the_same_pass_with_the_same_heads(localized, xray_gray):
    card = read_localizer_card(localized / "weights" / "localizer.json").with_(regression="sides", mirror=True)
    torch.manual_seed(0)
    net = build_localizer(card).eval()
    grays = [xray_gray, np.ascontiguousarray(xray_gray[:, : xray_gray.shape[1] // 2])]
    with torch.no_grad():
        heads, _ = run_heads(net, grays, card)
        plain = net(torch.from_numpy(np.stack([preprocess(g, card.preprocess)[0] for g in grays])))
        flipped = net(torch.from_numpy(np.stack([preprocess(g[:, ::-1].copy(), card.preprocess)[0] for g in grays])))
    for got, want in zip(heads, mirror_merge(plain, flipped)):
        assert got.shape == want.shape and torch.allclose(got, want, atol=1e-5)


def test_a_card_read_at_more_sizes_fuses_their_boxes_and_keeps_the_trained_size_evidence(localized, xray_gray):
    from core.models.localizer import localize_with_evidence

    card = read_localizer_card(localized / "weights" / "localizer.json").with_(scales=(96,))
    assert LocalizerCard.from_dict(json.loads(json.dumps(card.to_dict()))) == card
    net, _ = load_localizer(localized / "weights" / "localizer.json")
    top, found = localize_with_evidence(net, xray_gray, card)
    assert top == pytest.approx(top_box_scores(net, [xray_gray], card)[0])  # what the fusion weight was fitted on
    single = localize(net, xray_gray, card.with_(scales=()))
    assert found != single and 0 < len(found) <= card.top_k
    assert [s for _, s in found] == sorted((s for _, s in found), reverse=True)
    h, w = xray_gray.shape
    assert all(x >= 0 and y >= 0 and x + bw <= w + 1e-6 and y + bh <= h + 1e-6 for (x, y, bw, bh), _ in found)


def test_scales_must_be_other_multiples_of_32(localized):
    card = read_localizer_card(localized / "weights" / "localizer.json")
    for bad in ([100], [card.preprocess.size]):
        with pytest.raises(WeightsError, match="scales"):
            LocalizerCard.from_dict(card.to_dict() | {"scales": bad})
