"""Authorizer logic: the validator chain (L1 -> L2 Redis -> source of truth) and policy building."""
