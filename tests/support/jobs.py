"""What the tests of the operate jobs (benchmark.yml, accuracy.yml) share."""

from __future__ import annotations

import os
from pathlib import Path

# The jobs' virtualenvs (httpx + matplotlib, lm-eval), kept across test runs in the test world's cache.
VENVS = Path(os.environ.get("TOKENLABS_CACHE", Path.home() / ".cache" / "tokenlabs")) / "job-venvs"
# gateway_job_key_probe_model: the model of the jobs' key check, which no route serves.
KEY_PROBE = "tokenlabs-key-probe"
