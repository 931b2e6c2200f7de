"""`python -m core.evaluate`: measure the shipped models on labelled images.

Kept at this name for scripts and users; the code is core.evaluation.live.
"""
from core.evaluation.live import main

if __name__ == "__main__":
    raise SystemExit(main())
