"""Settings shared by every test directory.

pytest puts this file's directory, ``tests/``, on ``sys.path``: no directory in it may be named
like a framework (``tests/torch`` would import as an empty namespace package called ``torch``
where torch is not installed). tests/core/test_environment.py checks it.
"""

from __future__ import annotations

import os

from hypothesis import settings

# Property tests replay a fixed sequence of examples (derandomize): several assert statistical
# tolerances that a rare random draw can exceed, and a test run must not fail by chance.
# HYPOTHESIS_PROFILE=explore draws new random examples on every run instead.
settings.register_profile("replay", derandomize=True, deadline=None)
settings.register_profile("explore", deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "replay"))
