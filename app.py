#!/usr/bin/env python3
"""The CDK app: three stacks built from cdk.json context only (docs/deploy.md lists the keys).

`python app.py` and `cdk synth` work offline without AWS credentials: account and region come from
context (or CDK_DEFAULT_ACCOUNT/REGION when the CLI has them) and nothing is looked up at synth time.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from stacks.layer_manifest import LayerManifestError
from stacks.monitoring_stack import MonitoringStack
from stacks.nag import suppress
from stacks.service_stack import ServiceStack
from stacks.settings import ContextError, Settings
from stacks.stateful_stack import StatefulStack

CDK_JSON = Path(__file__).resolve().parent / "cdk.json"


def build_app(
    context: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    outdir: str | None = None,
) -> cdk.App:
    """The app with its three stacks.

    Context: cdk.json's ``context`` (so a bare `python app.py` sees it too), then ``context`` (tests),
    then whatever the CDK CLI passes (`-c key=value`, which CDK applies last).
    """
    defaults = json.loads(CDK_JSON.read_text()).get("context", {})
    app = cdk.App(context={**defaults, **(context or {})}, outdir=outdir)
    settings = Settings.from_context(app.node.try_get_context, os.environ if environ is None else environ)
    env = cdk.Environment(account=settings.account, region=settings.region)
    prefix = settings.stack_prefix
    stateful = StatefulStack(
        app,
        f"{prefix}Stateful",
        settings=settings,
        env=env,
        description="Hokusai: VPC, security groups, Redis, EFS, S3 model bucket, keys table, secrets",
        termination_protection=False,
    )
    service = ServiceStack(
        app,
        f"{prefix}Service",
        settings=settings,
        stateful=stateful,
        env=env,
        description="Hokusai: layers, authorizer/predict/health functions, REST API (stage api)",
    )
    monitoring = MonitoringStack(
        app,
        f"{prefix}Monitoring",
        service=service,
        env=env,
        description="Hokusai: canary, expected-state parameter, alarms, dashboard",
    )
    for stack in (stateful, service, monitoring):
        cdk.Tags.of(stack).add("project", "hokusai")
    suppress(stateful, service, monitoring)
    cdk.Aspects.of(app).add(AwsSolutionsChecks(verbose=True))
    return app


def main() -> None:
    """``cdk synth``'s entry point: a refused context value or layer build is one line, not a traceback
    (the message names the key or directory and the fix)."""
    try:
        build_app().synth()
    except (ContextError, LayerManifestError) as error:
        sys.exit(str(error))


if __name__ == "__main__":
    main()
