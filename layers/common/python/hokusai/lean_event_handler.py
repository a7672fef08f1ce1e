"""Imported first by the functions that use Powertools' REST resolver (health, predict): from here on,
``aws_lambda_powertools.event_handler.api_gateway`` loads without the package's ``__init__`` and its
ten other resolvers (40-50 ms of each cold start; :mod:`hokusai.lean_imports`). Import the resolver
from ``aws_lambda_powertools.event_handler.api_gateway``: a name looked up on the package itself
(``from aws_lambda_powertools.event_handler import Response``) still works, and runs the whole
``__init__``."""

from hokusai.lean_imports import defer_init

DEFERRED = defer_init("aws_lambda_powertools.event_handler")
