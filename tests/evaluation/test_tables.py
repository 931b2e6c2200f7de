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
