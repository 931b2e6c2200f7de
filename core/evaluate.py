"""`python -m core.evaluate`: Measure the shipped models on labelled images (kept at this name for scripts and users; see core.evaluation.live)."""
from core.evaluation.live import main

if __name__ == "__main__":
    raise SystemExit(main())
