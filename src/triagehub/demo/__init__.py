"""Bundled demo data: a deterministic, realistic 14-day scenario across three repositories."""
