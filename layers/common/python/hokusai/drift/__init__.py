"""Drift detection and synthetic monitoring: the canary's and ``hokusai doctor``'s one code path.

- :mod:`hokusai.drift.security_groups`: declared vs deployed security-group rules;
- :mod:`hokusai.drift.configuration`: functions' environment, secrets and VPC security groups;
- :mod:`hokusai.drift.synthetic`: HTTP requests against the API like a client's;
- :mod:`hokusai.drift.runner`: one run of all of them, metrics, the SNS message;
- :mod:`hokusai.drift.cli`: ``hokusai doctor``.
"""
