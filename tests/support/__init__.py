"""Test infrastructure shared by the suites (real databases, real browser)."""
