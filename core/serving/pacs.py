"""Read radiographs from the PACS and write the verdicts back, over DICOMweb:

    python -m core.pacs [--url URL] [--config FILE] scan [--study UID]
    python -m core.pacs [--url URL] [--config FILE] watch [--interval 60]

`scan` finds (QIDO-RS) the projection radiographs that have no result from this tool yet, retrieves them
(WADO-RS), analyses them and stores (STOW-RS) into the same study a DICOM SR and a secondary capture
with the verdict burned in. It prints one JSON line per instance (analysed; skipped and why; error
and its message) and progress on stderr. Running it again adds nothing; after an interruption it
resumes where it stopped. `watch` repeats it for new or changed studies every N seconds.
The URL may be given here; user and password come only from the environment or the config file
(see core.settings). Nothing on the PACS is ever modified or deleted: results are new instances.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pydicom.dataset import Dataset

from core.data.dicom_header import modality_problem
from core.errors import PacsAuthError, PacsError, PacsUnreachableError, ResultBuildError, WeightsError
from core.serving.pacs_client import PacsClient, load_config
from core.serving.pacs_study import dicom_bytes, has_result, instance_order, is_own, store_result
from core.serving.predictor import Predictor
from core.serving.report import model_versions
from core.serving.wording import HEADLINE, HIGH_SENSITIVITY, OPERATING_POINTS

log = logging.getLogger(__name__)

ANALYSED, SKIPPED, ERROR = "analysed", "skipped", "error"
OWN_RESULT = "a result written by this tool"
HAS_RESULT = "already has a result from this tool"


@dataclass
class Outcome:
    """What happened to one instance; printed as one JSON line (UIDs only, never patient names)."""

    status: str
    study: str
    series: str = ""
    instance: str = ""
    modality: str = ""
    body_part: str = ""
    view: str = ""
    reason: str | None = None
    verdict: str | None = None
    probability: float | None = None
    operating_point: str | None = None
    threshold: float | None = None
    warnings: list[str] = field(default_factory=list)
    stored: list[str] = field(default_factory=list)
    seconds: float | None = None

    def to_json(self) -> str:
        """One JSON line without the empty fields."""
        return json.dumps({k: v for k, v in asdict(self).items() if v not in (None, [], "")})


class Scanner:
    """Analyses a PACS's radiographs with one predictor and writes the results back."""

    def __init__(self, client: PacsClient, predictor: Predictor, operating_point: str = HIGH_SENSITIVITY):
        self.client, self.predictor, self.operating_point = client, predictor, operating_point
        self.versions = model_versions(predictor)

    def scan(self, study_uids: Iterable[str], emit: Callable[[Outcome], None]) -> Counter:
        """Every instance of every study; progress on the log; returns counts by status."""
        uids = list(study_uids)
        total: Counter = Counter()
        for i, uid in enumerate(uids, 1):
            counts = Counter(o.status for o in self.scan_study(uid, emit))
            total.update(counts)
            log.info("study %d of %d: %s", i, len(uids), _counts(counts))
        return total

    def scan_study(self, study_uid: str, emit: Callable[[Outcome], None]) -> list[Outcome]:
        """One outcome per instance of the study, each emitted as soon as it is known."""
        outcomes = []
        for inst in sorted(self.client.instances(study_uid), key=instance_order):
            outcome = self.process(study_uid, inst)
            emit(outcome)
            outcomes.append(outcome)
        return outcomes

    def process(self, study_uid: str, inst: Dataset) -> Outcome:
        """Skip, analyse and store, or report the error for one instance (QIDO record)."""
        base = Outcome(SKIPPED, study_uid, str(inst.get("SeriesInstanceUID", "")), str(inst.get("SOPInstanceUID", "")),
                       str(inst.get("Modality", "")), str(inst.get("BodyPartExamined", "") or ""),
                       str(inst.get("ViewPosition", "") or ""))
        base.reason = self._skip_reason(study_uid, inst)
        if base.reason:
            return base
        start = time.perf_counter()
        try:
            self._analyse(base)
        except (PacsUnreachableError, PacsAuthError):
            raise
        except (PacsError, ResultBuildError) as exc:
            base.status, base.reason = ERROR, str(exc)
        base.seconds = round(time.perf_counter() - start, 3)
        return base

    def _skip_reason(self, study_uid: str, inst: Dataset) -> str | None:
        if is_own(study_uid, inst):
            return OWN_RESULT
        problem = modality_problem(str(inst.get("Modality", "")))
        if problem:
            return problem
        return HAS_RESULT if has_result(self.client, inst) else None

    def _analyse(self, out: Outcome) -> None:
        """Retrieve, analyse, store; fill `out` (an error or an out-of-scope image writes nothing)."""
        source = self.client.retrieve(out.study, out.series, out.instance)
        result, image = self.predictor.analyse(dicom_bytes(source), out.instance, self.operating_point)
        if result.error:
            out.status, out.reason = (SKIPPED if result.out_of_scope else ERROR), result.error
            return
        out.stored = store_result(self.client, source, result, image.pixels, self.versions)
        out.status, out.verdict = ANALYSED, HEADLINE[bool(result.fractured)]
        out.probability, out.threshold = round(float(result.probability), 4), round(float(result.threshold), 4)
        out.operating_point, out.warnings = result.operating_point, list(result.warnings)


def _counts(counts: Counter) -> str:
    return ", ".join(f"{counts.get(s, 0)} {s}" for s in (ANALYSED, SKIPPED, ERROR))


def study_uids(client: PacsClient, only: list[str] | None = None) -> list[str]:
    """The studies to scan: the given UIDs, or every study on the PACS."""
    if only:
        return list(only)
    return [str(s.StudyInstanceUID) for s in client.all_studies()]


def watch(scanner: Scanner, interval_s: float, emit: Callable[[Outcome], None], polls: int | None = None) -> None:
    """Scan new or changed studies every `interval_s` seconds (forever, or `polls` times)."""
    seen: dict[str, int] = {}
    done = 0
    while polls is None or done < polls:
        try:
            for study in scanner.client.all_studies():
                uid, count = str(study.StudyInstanceUID), _instance_count(study)
                if seen.get(uid) != count:
                    scanner.scan([uid], emit)
                    seen[uid] = _instance_count(scanner.client.studies(filters={"StudyInstanceUID": uid})[0])
        except PacsUnreachableError as exc:
            emit(Outcome(ERROR, "", reason=str(exc)))
        done += 1
        if polls is None or done < polls:
            time.sleep(interval_s)


def _instance_count(study: Dataset) -> int:
    return int(study.get("NumberOfStudyRelatedInstances", 0) or 0)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m core.pacs", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--url", help="DICOMweb root (credentials never here: environment or config file)")
    p.add_argument("--config", type=Path, help="PACS config file (TOML/JSON: url, user, password)")
    p.add_argument("--weights", type=Path, default=None, help="models folder (default: weights/)")
    p.add_argument("--operating-point", choices=OPERATING_POINTS, default=HIGH_SENSITIVITY)
    sub = p.add_subparsers(dest="command", required=True)
    scan = sub.add_parser("scan", help="analyse every radiograph without a result, once")
    scan.add_argument("--study", action="append", help="only this Study Instance UID (repeatable)")
    w = sub.add_parser("watch", help="scan new or changed studies every --interval seconds")
    w.add_argument("--interval", type=float, default=60.0, help="seconds between polls (default 60)")
    w.add_argument("--polls", type=int, default=None, help="stop after this many polls (default: never)")
    return p


def _emit(outcome: Outcome) -> None:
    sys.stdout.write(outcome.to_json() + "\n")
    sys.stdout.flush()


def main(argv: list[str] | None = None) -> int:
    """Run `scan` or `watch`; exit 0 when done, 2 when the PACS or the models cannot be used, 130 on Ctrl-C."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    for noisy in ("dicomweb_client", "highdicom"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        client = PacsClient(load_config(args.url, args.config))
        client.check()
        scanner = Scanner(client, _predictor(args.weights), args.operating_point)
        return _run(args, scanner)
    except (PacsError, WeightsError) as exc:
        _emit(Outcome(ERROR, "", reason=str(exc)))
        return 2


def _predictor(weights: Path | None) -> Predictor:
    predictor = Predictor(weights)
    if not predictor.members:
        raise WeightsError(f"no models in {predictor.weights_dir}")
    return predictor


def _run(args: argparse.Namespace, scanner: Scanner) -> int:
    try:
        if args.command == "watch":
            watch(scanner, args.interval, _emit, args.polls)
        else:
            totals = scanner.scan(study_uids(scanner.client, args.study), _emit)
            log.info("scan finished: %s", _counts(totals))
    except KeyboardInterrupt:
        log.warning("interrupted; run the same command again to resume (nothing is duplicated)")
        return 130
    return 0


def summary(lines: Iterable[str]) -> dict[str, Any]:
    """Counts by status of `scan` output lines (for scripts and the benchmark)."""
    return dict(Counter(json.loads(line)["status"] for line in lines if line.strip()))
