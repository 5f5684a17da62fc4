"""Shared test configuration."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    deadline=None,
    derandomize=True,
    max_examples=100,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", deadline=None, max_examples=100)
settings.load_profile("ci" if os.environ.get("CI") else os.environ.get("HYPOTHESIS_PROFILE", "dev"))

# Private redis-server fixtures (tests/redis_server.py); never the Redis on 6379.
from tests.redis_server import (  # noqa: E402  # after the hypothesis profile setup above
    redis_server,  # noqa: F401  # re-exported as a pytest fixture
    redis_session_server,  # noqa: F401  # re-exported as a pytest fixture
    redis_shared,  # noqa: F401  # re-exported as a pytest fixture
    redis_url,  # noqa: F401  # re-exported as a pytest fixture
)
from tests.redis_topologies import (  # noqa: E402  # after the hypothesis profile setup above
    redis_cluster,  # noqa: F401  # re-exported as a pytest fixture
    redis_cluster_session,  # noqa: F401  # re-exported as a pytest fixture
    redis_cluster_shared,  # noqa: F401  # re-exported as a pytest fixture
    redis_sentinel,  # noqa: F401  # re-exported as a pytest fixture
)
