"""Caches: L1 in-process TTL cache and the L2 Redis client guarded by a circuit breaker."""

from hokusai.cache.breaker import BreakerState, CircuitBreaker
from hokusai.cache.ttl import TTLCache

__all__ = ["BreakerState", "CircuitBreaker", "TTLCache"]
