"""What each function's configuration must contain: the ``functions`` section of the expected state.

The stack (which writes the expected-state SSM parameter), the local stack and the tests build the
section with :func:`functions_section`, from the same declarations (``hokusai.environment``) the
stack builds the functions' environments from, so the canary checks exactly what was deployed: a
variable the stack stops setting, or a secret ARN it stops passing, is drift the canary reports.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from hokusai.environment import FUNCTIONS, deployed_names, secret_variables

# Function -> the variables the stack sets when no optional feature is on.
FUNCTION_ENV: dict[str, list[str]] = {function: deployed_names(function) for function in FUNCTIONS}
# Function -> {variable holding a secret ARN: logical secret name}.
FUNCTION_SECRETS: dict[str, dict[str, str]] = {function: secret_variables(function) for function in FUNCTIONS}
IN_VPC = {"authorizer", "predict", "health", "revocation"}


def functions_section(
    function_names: Mapping[str, str],
    secret_arns: Mapping[str, str],
    environment_names: Mapping[str, Iterable[str]] | None = None,
) -> dict[str, dict[str, Any]]:
    """``{"predict": {"function_name", "environment", "secrets", "security_groups"}, ...}``.

    ``function_names``: logical name (authorizer, predict, health, canary) -> deployed name;
    ``secret_arns``: logical secret (hf_token, redis_auth, canary_key) -> ARN. A secret that is not
    deployed (no Redis auth token, for instance) is left out of the declaration.
    ``environment_names``: per function, the variables the stack actually sets (pass the keys of the
    environment it gives the function, so an optional variable it leaves unset is not reported);
    default :data:`FUNCTION_ENV`. Secret-ARN variables are declared through ``secrets``.
    """
    names = FUNCTION_ENV if environment_names is None else environment_names
    section: dict[str, dict[str, Any]] = {}
    for function in FUNCTION_ENV:
        if function not in function_names:
            continue
        variables = sorted(set(names.get(function, [])) - set(FUNCTION_SECRETS[function]))
        secrets = {
            variable: secret_arns[secret]
            for variable, secret in FUNCTION_SECRETS[function].items()
            if secret in secret_arns
        }
        section[function] = {
            "function_name": function_names[function],
            "environment": variables,
            "secrets": secrets,
            "security_groups": ["functions"] if function in IN_VPC else [],
        }
    return section


def models_section(staged: Mapping[str, bool], hub_fallback: bool) -> dict[str, Any]:
    """``{"hub_fallback": bool, "staged": [ids], "hub": [ids]}``: which models the stack copied into
    the S3 cache at deploy time, and which predict must fetch from the Hub (and so the HF token)."""
    return {
        "hub_fallback": hub_fallback,
        "staged": sorted(model_id for model_id, done in staged.items() if done),
        "hub": sorted(model_id for model_id, done in staged.items() if not done),
    }


def models_summary(document: Mapping[str, Any]) -> list[str]:
    """What ``hokusai doctor`` says about the models: which of them depend on the HuggingFace token."""
    models = document.get("models")
    if not isinstance(models, Mapping):
        return ["Models: the expected state does not say which models are staged (deployed before it did)."]
    lines = []
    if models.get("staged"):
        lines.append(f"Staged in the S3 model cache at deploy time: {', '.join(models['staged'])}.")
    if models.get("hub"):
        lines.append(
            f"Depend on the HuggingFace token (not staged, fetched from the Hub at run time): "
            f"{', '.join(models['hub'])}. Stage them instead: hokusai models fetch, then make deploy."
        )
    else:
        lines.append("No model depends on the HuggingFace token.")
    return lines
