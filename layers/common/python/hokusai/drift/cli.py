"""``hokusai doctor``: the canary's checks, once, from a terminal, with a findings table.

Exit status: 0 clean, 1 warnings only, 2 at least one critical finding, 3 could not run (bad flags
or configuration). AWS credentials and endpoint come from the usual environment (``AWS_PROFILE``,
``AWS_REGION``, ``AWS_ENDPOINT_URL`` for ``make dev``'s moto); flags override the canary's variables
(``API_BASE_URL``, ``EXPECTED_STATE_PARAMETER``, ``CANARY_KEY_SECRET_ARN``, ``ALERT_TOPIC_ARN``).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from hokusai.config import CanarySettings, ConfigError

USAGE_ERROR = 3


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hokusai doctor",
        description=(
            "Check a deployment like the canary does: synthetic requests against the API, "
            "security-group drift and configuration drift against the expected-state parameter. "
            "Exit 0 clean, 1 warnings, 2 critical, 3 could not run."
        ),
    )
    parser.add_argument("--api-url", help="API base URL ending in /api (stack output; env API_BASE_URL)")
    parser.add_argument(
        "--parameter", help="SSM parameter with the expected-state document (env EXPECTED_STATE_PARAMETER)"
    )
    parser.add_argument(
        "--canary-key-secret",
        help="secret ARN of the canary API key, for the signed-in predict (env CANARY_KEY_SECRET_ARN)",
    )
    parser.add_argument(
        "--topic", help="also publish the findings to this SNS topic ARN (env ALERT_TOPIC_ARN)"
    )
    parser.add_argument("--model-id", help="model for the synthetic predict (default 21)")
    parser.add_argument(
        "--timeout-ms", type=int, help="per-request timeout and latency budget (default 2000)"
    )
    parser.add_argument(
        "--from-stacks",
        nargs="?",
        const="",
        metavar="PREFIX",
        help="read ApiBaseUrl, ExpectedStateParameter and CanaryKeySecretArn from the CloudFormation "
        "outputs of the deployed stacks (whose names start with PREFIX, if given); flags win",
    )
    parser.add_argument("--skip-synthetic", action="store_true", help="only check drift, send no requests")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    return parser


# CloudFormation output -> the canary variable it fills (stacks/*: CfnOutput names).
STACK_OUTPUTS = {
    "ApiBaseUrl": "API_BASE_URL",
    "ExpectedStateParameter": "EXPECTED_STATE_PARAMETER",
    "CanaryKeySecretArn": "CANARY_KEY_SECRET_ARN",
}


def stack_outputs(prefix: str) -> dict[str, str]:
    """The canary variables found in the outputs of the stacks whose names start with ``prefix``."""
    from hokusai.drift.aws import client

    found: dict[str, str] = {}
    paginator = client("cloudformation").get_paginator("describe_stacks")
    for page in paginator.paginate():
        for stack in page.get("Stacks", []):
            if not stack["StackName"].startswith(prefix):
                continue
            for output in stack.get("Outputs", []):
                variable = STACK_OUTPUTS.get(output.get("OutputKey", ""))
                if variable is not None:
                    found.setdefault(variable, output["OutputValue"])
    return found


def settings_from(args: argparse.Namespace, environ: dict[str, str] | None = None) -> CanarySettings:
    overrides = {
        "API_BASE_URL": args.api_url,
        "EXPECTED_STATE_PARAMETER": args.parameter,
        "CANARY_KEY_SECRET_ARN": args.canary_key_secret,
        "ALERT_TOPIC_ARN": args.topic,
        "CANARY_MODEL_ID": args.model_id,
        "CANARY_TIMEOUT_MS": None if args.timeout_ms is None else str(args.timeout_ms),
    }
    import os

    env = dict(os.environ if environ is None else environ)
    if args.from_stacks is not None:
        env.update(stack_outputs(args.from_stacks))
    env.update({name: value for name, value in overrides.items() if value is not None})
    settings = CanarySettings.from_env(env, require_all=False)
    if args.skip_synthetic:
        settings = dataclasses.replace(settings, api_base_url=None)
    return settings


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    from hokusai.drift.findings import render_table
    from hokusai.drift.runner import CanaryClients, publish_alert, run_canary, summary_lines

    stream = out or sys.stdout
    parser = build_parser()
    try:
        args = parser.parse_args(list(argv) if argv is not None else None)
    except SystemExit as exit_:
        return USAGE_ERROR if exit_.code else 0
    try:
        settings = settings_from(args)
    except ConfigError as error:
        print(f"hokusai doctor: {error}", file=sys.stderr)
        return USAGE_ERROR
    except Exception as error:  # --from-stacks could not read CloudFormation
        print(f"hokusai doctor: cannot read the stack outputs: {error}", file=sys.stderr)
        return USAGE_ERROR
    if settings.expected_state_parameter is None and settings.api_base_url is None:
        print(
            "hokusai doctor: nothing to check: give --parameter (drift) and/or --api-url (synthetic)",
            file=sys.stderr,
        )
        return USAGE_ERROR

    try:
        clients = CanaryClients.from_environment()
    except Exception as error:  # no region, unknown profile: say so instead of a traceback
        print(f"hokusai doctor: cannot create AWS clients: {error}", file=sys.stderr)
        return USAGE_ERROR
    report = run_canary(settings, clients)
    message_id = publish_alert(report, clients.sns, settings.alert_topic_arn)

    if args.json:
        print(json.dumps({**report.as_dict(), "sns_message_id": message_id}, indent=2), file=stream)
        return report.exit_code
    if report.synthetic:
        print("Synthetic checks", file=stream)
        for line in summary_lines(report):
            print("  " + line, file=stream)
        print(file=stream)
    if settings.expected_state_parameter is None:
        print("Drift not checked: no --parameter / EXPECTED_STATE_PARAMETER.", file=stream)
    else:
        print("Models", file=stream)
        for line in _models_lines(clients.ssm, settings.expected_state_parameter):
            print("  " + line, file=stream)
        print(file=stream)
    print(render_table(report.findings), file=stream)
    checked = ", ".join(report.checked) or "nothing"
    sent = f"; SNS message {message_id}" if message_id else ""
    print(
        f"\n{report.critical} critical, {report.warnings} warning; checked {checked}"
        f" in {report.duration_ms:.0f} ms{sent}",
        file=stream,
    )
    return report.exit_code


def _models_lines(ssm: Any, parameter: str) -> list[str]:
    """Which models are staged and which depend on the HuggingFace token, from the expected state."""
    from hokusai.drift.expected import models_summary
    from hokusai.drift.runner import load_expected_state

    document, problem = load_expected_state(ssm, parameter)
    if document is None:
        return [f"not known: {problem.detail if problem else 'no expected state'}"]
    return models_summary(document)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
