"""The Kubernetes adapters: client, Jobs, the Job cache, status, Events, best ConfigMap, rate limit."""

__all__ = []
