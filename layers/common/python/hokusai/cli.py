"""``hokusai``: one console script, subcommands loaded only when they run.

keys -> hokusai.keys.cli, models -> hokusai.models.cli, doctor -> hokusai.drift.cli, preflight ->
hokusai.preflight. Lazy imports keep ``hokusai keys`` fast (no ML stack) and let one subcommand work
while another is not built yet.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

SUBCOMMANDS = {
    "keys": ("hokusai.keys.cli", "create, revoke, list and show API keys"),
    "models": ("hokusai.models.cli", "model registry and artifact sync"),
    "doctor": ("hokusai.drift.cli", "check the deployment against what was declared"),
    "preflight": (
        "hokusai.preflight",
        "check credentials, bootstrap, quotas, trail, certificate and zones before make deploy",
    ),
}


def _usage() -> str:
    lines = ["usage: hokusai <command> [options]", "", "commands:"]
    width = max(len(name) for name in SUBCOMMANDS)
    lines += [f"  {name:{width}} {help_text}" for name, (_, help_text) in SUBCOMMANDS.items()]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in {"-h", "--help", "help"}:
        print(_usage())
        return 0 if args else 2
    command, rest = args[0], args[1:]
    if command not in SUBCOMMANDS:
        print(f"hokusai: unknown command {command!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    module_name = SUBCOMMANDS[command][0]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name is not None and module_name.startswith(error.name):
            print(
                f"hokusai: '{command}' is not available in this build ({module_name} is missing)",
                file=sys.stderr,
            )
            return 2
        raise
    entry = getattr(module, "main", None)
    if entry is None:
        print(
            f"hokusai: '{command}' is not available in this build ({module_name} has no main)",
            file=sys.stderr,
        )
        return 2
    return int(entry(rest) or 0)


if __name__ == "__main__":
    sys.exit(main())
