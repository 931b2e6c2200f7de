"""`python -m core.predict`: Verdicts for image files (kept at this name for scripts and users; see core.serving.predictor)."""
from core.serving.predictor import main

if __name__ == "__main__":
    raise SystemExit(main())
