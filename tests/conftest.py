"""Settings every tier shares: Hypothesis profiles (fixed seeds in CI, a long run on demand)."""

from __future__ import annotations

from hypothesis import settings

settings.register_profile("ci", derandomize=True, max_examples=80, print_blob=True)
"""The default: the same examples on every run, so a CI failure is reproducible from its output."""
settings.register_profile("long", max_examples=3000, print_blob=True)
"""`--hypothesis-profile long --hypothesis-seed N`: new examples, the seed in the output."""
settings.load_profile("ci")
