"""Settings every test tree shares."""

from hypothesis import settings

# Hypothesis' per-example deadline is a timing assertion: on a busy two-core machine a correct
# example can take longer than its default 200 ms. Examples are bounded by their number instead.
settings.register_profile("svcinfra", deadline=None)
settings.load_profile("svcinfra")
