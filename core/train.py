"""`python -m core.train`: Train one registry model (kept at this name for scripts and users; see core.training.trainer)."""
from core.training.trainer import main

if __name__ == "__main__":
    raise SystemExit(main())
