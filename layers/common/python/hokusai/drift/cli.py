"""``hokusai doctor``: the canary's checks, once, from a terminal, with a findings table.

Exit status: 0 clean, 1 warnings only, 2 at least one critical finding, 3 could not run (bad flags
or configuration), 4 drift not checked (no expected-state parameter was given or found under its
conventional name, or its document could not be read) and nothing critical found. 0 and 1 always mean
that drift was checked. AWS credentials and endpoint come from the usual environment (``AWS_PROFILE``,
``AWS_REGION``, ``AWS_ENDPOINT_URL`` for ``make dev``'s moto); flags override the canary's variables
(``API_BASE_URL``, ``EXPECTED_STATE_PARAMETER``, ``CANARY_KEY_SECRET_ARN``, ``ALERT_TOPIC_ARN``).
Without a parameter from either, the doctor uses ``/hokusai/expected-state`` (what the monitoring stack
names it on the default ``prefix``) when that parameter exists.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TextIO

from hokusai.config import CanarySettings, ConfigError

if TYPE_CHECKING:
    from hokusai.drift.runner import CanaryReport

USAGE_ERROR = 3
# Synthetic checks may have passed, but "clean" (0) or "warnings only" (1) would claim a drift check
# that did not happen. A critical finding still exits 2: it is the more urgent answer.
DRIFT_NOT_CHECKED = 4
# The monitoring stack's name for the parameter, /<prefix>/expected-state (stacks/monitoring_stack.py),
# on the default prefix "hokusai" (stacks/settings.py); tests/infra/test_doctor_conventions.py pins
# the two together. A deployment with another prefix is found with --parameter or --from-stacks.
CONVENTIONAL_PARAMETER = "/hokusai/expected-state"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hokusai doctor",
        description=(
            "Check a deployment like the canary does: synthetic requests against the API, "
            "security-group drift and configuration drift against the expected-state parameter. "
            "Exit 0 clean, 1 warnings, 2 critical, 3 could not run, 4 drift not checked "
            "(no expected-state parameter given or found)."
        ),
    )
    parser.add_argument("--api-url", help="API base URL ending in /api (stack output; env API_BASE_URL)")
    parser.add_argument(
        "--parameter",
        help="SSM parameter with the expected-state document (env EXPECTED_STATE_PARAMETER; "
        f"default {CONVENTIONAL_PARAMETER} if it exists)",
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
    from hokusai.drift.runner import CanaryClients, publish_alert, run_canary

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

    try:
        clients = CanaryClients.from_environment()
    except Exception as error:  # no region, unknown profile: say so instead of a traceback
        print(f"hokusai doctor: cannot create AWS clients: {error}", file=sys.stderr)
        return USAGE_ERROR
    settings, parameter_source, not_found = _with_conventional_parameter(settings, clients.ssm)
    if settings.expected_state_parameter is None and settings.api_base_url is None:
        print(
            "hokusai doctor: nothing to check: give --parameter (drift) and/or --api-url (synthetic); "
            + not_found,
            file=sys.stderr,
        )
        return USAGE_ERROR

    report = run_canary(settings, clients)
    message_id = publish_alert(report, clients, settings.alert_topic_arn)
    drift_checked = "configuration" in report.checked  # the document was read and both checks ran
    code = report.exit_code if drift_checked or report.exit_code == 2 else DRIFT_NOT_CHECKED
    if args.json:
        document = {
            **report.as_dict(),
            "exit_code": code,
            "expected_state_parameter": settings.expected_state_parameter,
            "drift_checked": drift_checked,
            "sns_message_id": message_id,
        }
        print(json.dumps(document, indent=2), file=stream)
        return code
    if drift_checked:
        not_checked = None
    elif settings.expected_state_parameter is None:
        not_checked = not_found
    else:
        not_checked = f"{settings.expected_state_parameter} could not be read (see the findings)"
    _print_report(
        stream,
        report,
        settings=settings,
        ssm=clients.ssm,
        parameter_source=parameter_source,
        drift_not_checked=not_checked,
        message_id=message_id,
    )
    if code == DRIFT_NOT_CHECKED:
        print(
            f"Exit {DRIFT_NOT_CHECKED}: drift not checked. Give --parameter <ExpectedStateParameter output> "
            "or --from-stacks <stack name prefix>.",
            file=stream,
        )
    return code


def _with_conventional_parameter(settings: CanarySettings, ssm: Any) -> tuple[CanarySettings, str, str]:
    """``settings`` with :data:`CONVENTIONAL_PARAMETER` if none was given and it exists; where the
    parameter came from; and why there is none ("" when there is one)."""
    if settings.expected_state_parameter is not None:
        return settings, "given", ""
    not_found = _conventional_parameter_missing(ssm)
    if not_found:
        return settings, "", not_found
    found = dataclasses.replace(settings, expected_state_parameter=CONVENTIONAL_PARAMETER)
    return found, "the stack's default name; no --parameter given", ""


def _print_report(
    stream: TextIO,
    report: CanaryReport,
    *,
    settings: CanarySettings,
    ssm: Any,
    parameter_source: str,
    drift_not_checked: str | None,
    message_id: str | None,
) -> None:
    from hokusai.drift.findings import render_table
    from hokusai.drift.runner import summary_lines

    if report.synthetic:
        print("Synthetic checks", file=stream)
        for line in summary_lines(report):
            print("  " + line, file=stream)
        print(file=stream)
    if settings.expected_state_parameter is not None:
        print(f"Expected state: {settings.expected_state_parameter} ({parameter_source})", file=stream)
        print("Models", file=stream)
        for line in _models_lines(ssm, settings.expected_state_parameter):
            print("  " + line, file=stream)
        print(file=stream)
    if drift_not_checked is not None:
        print(f"Drift NOT checked: {drift_not_checked}.", file=stream)
        if not report.findings:  # render_table's "no findings" line says the deployment matches
            print("No findings from the synthetic checks; the deployment was not compared.", file=stream)
    if report.findings or drift_not_checked is None:
        print(render_table(report.findings), file=stream)
    checked = ", ".join(report.checked) or "nothing"
    sent = f"; SNS message {message_id}" if message_id else ""
    print(
        f"\n{report.critical} critical, {report.warnings} warning; checked {checked}"
        f" in {report.duration_ms:.0f} ms{sent}",
        file=stream,
    )


def _conventional_parameter_missing(ssm: Any) -> str:
    """Why :data:`CONVENTIONAL_PARAMETER` cannot stand in for a missing --parameter; "" when it can."""
    from hokusai.drift.aws import error_code, error_text

    given = "no --parameter / EXPECTED_STATE_PARAMETER"
    try:
        ssm.get_parameter(Name=CONVENTIONAL_PARAMETER)
    except Exception as error:  # not there, or not readable with these credentials: the reason is shown
        if error_code(error) == "ParameterNotFound":
            return f"{given}, and no parameter {CONVENTIONAL_PARAMETER} (the stack's default name)"
        return f"{given}, and {CONVENTIONAL_PARAMETER} could not be read ({error_text(error)})"
    return ""


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
