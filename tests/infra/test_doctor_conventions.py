"""``hokusai doctor`` finds the expected-state parameter by the name the monitoring stack gives it."""

from __future__ import annotations

from hokusai.drift.cli import CONVENTIONAL_PARAMETER

from tests.infra.conftest import Synthesized

STACK = "HokusaiMonitoring"


def test_the_doctors_default_parameter_is_the_one_the_stack_declares(synthesized: Synthesized) -> None:
    # Synthesized with cdk.json's context, i.e. the default prefix: the deployment a bare
    # `hokusai doctor --api-url ...` is meant to check.
    (parameter,) = synthesized.resources(STACK, "AWS::SSM::Parameter").values()
    assert parameter["Properties"]["Name"] == CONVENTIONAL_PARAMETER == "/hokusai/expected-state"
