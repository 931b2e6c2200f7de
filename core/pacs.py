"""`python -m core.pacs --url URL scan|watch`: verdicts for the PACS's radiographs, written back as DICOM SR
(see core.serving.pacs)."""
from core.serving.pacs import main

if __name__ == "__main__":
    raise SystemExit(main())
