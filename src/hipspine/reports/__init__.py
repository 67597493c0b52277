"""Presentation of clinical results: terminal text, charts, narrative and PDF."""
