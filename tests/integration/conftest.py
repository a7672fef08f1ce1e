"""Fixtures shared by the drift, canary and doctor tests: a deploy-like moto environment and an API."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from local.deployment import ApiStandIn, Deployment, deploy
from local.moto_server import MotoServer


@pytest.fixture
def deployment(moto_env: MotoServer) -> Deployment:
    return deploy(moto_env.endpoint_url)


@pytest.fixture
def api(deployment: Deployment) -> Iterator[ApiStandIn]:
    stand_in = ApiStandIn(deployment.canary_api_key).start()
    yield stand_in
    stand_in.stop()
