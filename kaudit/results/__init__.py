"""Stage 5, results: what is done to results before they are reported:
waivers, drift against a baseline, and diffs between two runs."""
