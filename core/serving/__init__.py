"""Serving layer: the predictor, the out-of-scope check, clinical wording, reports, the PACS client. Never imports training."""
