"""Imported first by health's handler: from here on, ``aws_lambda_powertools.event_handler.api_gateway``
loads without the package's ``__init__`` and its ten other resolvers (21 modules, 5-8 ms of the cold
start; :mod:`hokusai.lean_imports`). Not used by predict: its request validation (Powertools'
``openapi.params``) imports ``Response`` from the package, which runs the whole ``__init__`` anyway.
Import the resolver from ``aws_lambda_powertools.event_handler.api_gateway``: a name looked up on the
package itself (``from aws_lambda_powertools.event_handler import Response``) still works, and runs
the whole ``__init__``."""

from hokusai.lean_imports import defer_init

DEFERRED = defer_init("aws_lambda_powertools.event_handler")
