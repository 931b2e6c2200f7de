"""`python -m core.robustness`: the robustness suite (see core/evaluation/robustness.py)."""
from core.evaluation.robustness import main

if __name__ == "__main__":
    raise SystemExit(main())
