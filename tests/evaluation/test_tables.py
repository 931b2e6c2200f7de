"""Result tables read from the cards."""
from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_train_minutes_marks_cards_that_timed_only_the_last_leg():
    from core.evaluation.tables import train_minutes
    from core.models.cards import TrainingRecord, migrate

    log = [{"epoch": 1, "seconds": 600.0}, {"epoch": 2, "seconds": 600.0}]

    def record(**t):  # a format-1 card's training section, migrated as read_card does
        d = migrate({"name": "m", "thresholds": {}, "training": {"seed": 0, "epochs_run": 2, "best_epoch": 2,
                                                                 "log": log, "views": 4, **t}})
        return TrainingRecord(**d["training"])
    assert train_minutes(record(wall_time_s=90, command="python -m core.train --resume", legs=2)) == 1.5
    assert train_minutes(record(wall_time_s=90, command="python -m core.train --resume")) == "≥ 20.0"
    assert train_minutes(record(wall_time_s=90, command="python -m core.train")) == 1.5
    assert record(wall_time_s=90, command="x").settings == {"views": 4}


def test_pacs_section_reads_the_shipped_report():
    """RESULTS shows the measured PACS throughput from reports/pacs_throughput.json (and nothing without it)."""
    import json

    from core.evaluation.results import pacs_throughput
    from core.evaluation.tables import Reports

    measured = json.loads((ROOT / "reports" / "pacs_throughput.json").read_text())
    text = "\n".join(pacs_throughput(Reports({}, {}, {"pacs_throughput": measured}), set()))
    assert f"**{measured['first_scan']['instances_per_minute']} instances per minute**" in text
    assert ("stored nothing" in text) == (not measured["second_scan"]["stored_anything"])
    assert pacs_throughput(Reports({}, {}, {}), set()) == []


def test_choice_summarises_val_reports_and_refuses_test(tmp_path):
    """The recipe choice reads val robustness reports only and picks the best mean ROC-AUC, plain and shifted."""
    import json

    import pytest

    from core.evaluation.choice import main, summarise

    def report(split, deltas):
        shifts = [{"shift": f"s{i}", "severity": "middle", "models": {"ensemble": {"roc_auc": 0.9 + d,
                   "delta": {"roc_auc": d}}, "m": {"roc_auc": 0.8 + d}}} for i, d in enumerate(deltas)]
        return {"split": split, "command": "c", "n_images": 10, "shifts": shifts, "models": ["m", "ensemble"],
                "unshifted": {"all": {"ensemble": {"roc_auc": 0.9}, "m": {"roc_auc": 0.8}}}}
    s = summarise(report("val", [-0.05, 0.01, -0.01]))
    assert s["members"] == {"m": {"unshifted": 0.8, "s0": 0.75, "s1": 0.81, "s2": 0.79}}
    assert s["worst_delta"] == -0.05 and s["mean_abs_delta"] == round(0.07 / 3, 4) and s["shifts_within_target"] == 2
    assert s["mean_roc_auc_plain_and_shifted"] == round((0.9 + 0.85 + 0.91 + 0.89) / 4, 4)
    with pytest.raises(ValueError, match="val only"):
        summarise(report("test", [0.0]))
    for name, deltas in (("plain", [-0.05, -0.04]), ("shifts", [-0.01, 0.0])):
        (tmp_path / f"{name}.json").write_text(json.dumps(report("val", deltas)))
    out = tmp_path / "choice.json"
    assert main([f"plain={tmp_path / 'plain.json'}", f"shifts={tmp_path / 'shifts.json'}", "--out", str(out)]) == 0
    assert json.loads(out.read_text())["chosen"] == "shifts"


def test_localizer_section_reads_the_shipped_reports():
    """RESULTS shows the shipped localiser's figures, its fusion decision and its shifts (nothing without them)."""
    import json

    from core.evaluation.results import localizer
    from core.evaluation.tables import Reports
    from core.models.cards import read_card

    measured = {k: json.loads((ROOT / "reports" / f"{k}.json").read_text())
                for k in ("localizer", "localizer_fusion", "localizer_robustness")}
    text = "\n".join(localizer(Reports({}, {}, measured), set()))
    test = measured["localizer"]["metrics"]["test"]
    assert f"| test | {test['ap50']:.3f} |" in text and f"{test['pointing']:.3f}" in text
    assert "**Not fused**" in text  # no ensemble card: whatever val says, nothing is fused
    card = read_card(ROOT / "reports" / "cards" / "ensemble.json")
    fused = "\n".join(localizer(Reports({"ensemble": card}, {}, measured), set()))
    assert ("**Fused**" in fused) == (card.box_fusion is not None)
    if card.box_fusion is not None:
        before = card.extra["unfused"]["metrics"]["test"]["roc_auc"]
        assert f"| ensemble alone | {before:.3f}" in fused and f"| fused | {card.split('test')['roc_auc']:.3f}" in fused
    assert all(f"| {r['shift']} ({r['level']}) |" in text for r in measured["localizer_robustness"]["shifts"])
    assert localizer(Reports({}, {}, {}), set()) == []


def test_reproducibility_section_lists_every_rebuild():
    from core.evaluation.results import reproducibility
    from core.evaluation.tables import Reports

    run = {"time": "2026-12-01T20:39:57+00:00", "machine": {"cpu": "X"}, "wall_time_min": 52.0,
           "ensemble_within_tolerance": False,
           "models": {"ensemble": {"difference": {"roc_auc": -0.02, "sensitivity@balanced": 0.01},
                                   "within_tolerance": False, "bit_identical_weights": False}}}
    text = "\n".join(reproducibility(Reports({}, {}, {"rebuild_check": {"runs": [run]}}), set()))
    assert "**0 of 1 rebuilds**" in text and "| 0.0200 | **no** | no | – |" in text
    assert reproducibility(Reports({}, {}, {}), set()) == []


def test_rebuild_check_compares_cards_and_the_previous_rebuild():
    """Issue 18: the shipped card against itself is within tolerance and bit-identical; a second rebuild on the
    same CPU is marked bit-identical (or not) to the first from the recorded sha256."""
    from core.evaluation.rebuild import against_previous, check
    from core.models.weights import tensor_sha256

    shipped = ROOT / "weights"
    first = check(shipped, shipped)
    ens = first["models"]["ensemble"]
    assert first["ensemble_within_tolerance"] and ens["within_tolerance"]
    assert set(ens["difference"].values()) == {0.0}
    lite = first["models"]["efficientnet_lite0"]
    assert lite["rebuilt_sha256"] and lite["bit_identical_weights"]
    assert lite["rebuilt_tensor_sha256"] == tensor_sha256(shipped / "efficientnet_lite0.safetensors")
    second = check(shipped, shipped)
    second["models"]["efficientnet_lite0"]["rebuilt_tensor_sha256"] = "0" * 64
    against_previous(second, [{"machine": {"cpu": "elsewhere"}, "models": {}}, first])
    assert second["models"]["efficientnet_lite0"]["bit_identical_to_previous_rebuild"] is False
    assert second["models"]["mobilenet_v2"]["bit_identical_to_previous_rebuild"] is True


def test_input_steps_section_lists_every_trial_row():
    import json

    from core.evaluation.results import input_steps
    from core.evaluation.tables import Reports

    trial = json.loads((ROOT / "reports" / "restore_trial.json").read_text())
    text = "\n".join(input_steps(Reports({}, {}, {"restore_trial": trial}), set()))
    assert all(f"| {k} | {v['auc']} |" in text for k, v in trial["results"].items())
    assert trial["conclusion"] in text and input_steps(Reports({}, {}, {}), set()) == []


def test_train_all_time_says_when_it_predates_the_localiser():
    from core.evaluation.results import rebuild_time
    from core.evaluation.tables import Reports

    def text(**t):
        return "\n".join(rebuild_time(Reports({}, {}, {"train_all_time": {"cores": 2, "finished": "x", **t}}), set()))
    assert "predates the localiser" in text(minutes=53)
    new = text(minutes=88, what="classifiers, ensemble, localiser and out-of-scope gate")
    assert "**88 min**" in new and "predates" not in new


def test_robustness_section_counts_the_shifts_that_meet_the_targets():
    """RESULTS's robustness part: the count of middle-level shifts within target, and what the verdict was."""
    import json
    import re

    from core.evaluation.results import robustness
    from core.evaluation.tables import Reports, robustness_table

    rb = json.loads((ROOT / "reports" / "robustness.json").read_text())
    text = "\n".join(robustness(Reports({}, {}, {"robustness": rb}), set()))
    middle = robustness_table(rb, "ensemble", "middle")
    met = int(sum(str(v).startswith("yes") for v in middle["meets target"]))
    assert re.search(rf"\*\*{met} of {len(middle)} (measured )?shifts meet it", text)
    assert ("logit(top box score)" in text) == bool(rb.get("box_fusion"))
    assert f"Unshifted ensemble ROC-AUC {rb['unshifted']['all']['ensemble']['roc_auc']:.3f}" in text
    assert robustness(Reports({}, {}, {}), set()) == []


def test_scope_section_lists_every_gate_tried():
    import json

    from core.evaluation.results import scope_gate
    from core.evaluation.tables import Reports

    scope = json.loads((ROOT / "reports" / "scope.json").read_text())
    history = json.loads((ROOT / "reports" / "scope_history.json").read_text())
    text = "\n".join(scope_gate(Reports({}, {}, {"scope": scope, "scope_history": history}), set()))
    assert "Gates tried" in text and all(f"| {g['name']} | {g['change']} |" in text for g in history["gates"])
    assert "Gates tried" not in "\n".join(scope_gate(Reports({}, {}, {"scope": scope}), set()))


def test_stale_note_names_the_models_that_changed_since_a_report():
    """A robustness report of other thresholds or another localiser is flagged, naming the command to re-run."""
    import dataclasses

    from core.evaluation.tables import Reports, load_cards, stale_models, stale_note

    data = load_cards(ROOT / "reports")
    ens = data.cards["ensemble"]
    sha = data.get("localizer")["weights"]["sha256"]
    report = {"thresholds": {"ensemble": dict(ens.thresholds)}, "localizer_sha256": sha}
    assert stale_models(report, data.cards, sha) == [] and stale_note(report, data, "make robustness") == ""
    moved = dataclasses.replace(ens, thresholds={**ens.thresholds, "balanced": ens.thresholds["balanced"] + 0.01})
    assert stale_models(report, {"ensemble": moved}, sha) == ["ensemble"]
    assert stale_models(report | {"localizer_sha256": "0" * 64}, data.cards, sha) == ["localizer"]
    other = Reports({"ensemble": moved}, {}, data.measured)
    note = stale_note(report | {"localizer_sha256": "0" * 64}, other, "make localizer-robustness")
    assert "ensemble, localizer" in note and "`make localizer-robustness`" in note
    assert stale_models(None, data.cards) == []


def test_a_localizer_report_read_at_other_sizes_than_shipped_is_flagged():
    from core.evaluation.results import _sizes_note
    from core.evaluation.tables import Reports

    card = {"preprocess": {"size": 384}, "scales": [448]}
    data = Reports({}, {}, {"localizer": card})
    assert "384 px, while the shipped localiser reads at 384 + 448 px" in _sizes_note({}, data)
    assert _sizes_note({"localizer_sizes": [384, 448]}, data) == ""
    assert _sizes_note({}, Reports({}, {}, {"localizer": card | {"scales": []}})) == ""
