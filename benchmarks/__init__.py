"""Side-by-side benchmarks: hipspine against a baseline in the same run (``make bench``)."""
