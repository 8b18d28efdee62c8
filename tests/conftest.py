"""Test configuration: Hypothesis explores new examples locally, and is repeatable in CI.

In CI (``CI`` set, as ``.ci/run`` runs) the examples are derandomised, so a submission's result
does not depend on the draw; local runs keep searching, which is how new edge cases are found.
"""

import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")
