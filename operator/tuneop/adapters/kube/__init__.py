"""The Kubernetes adapters: client, Jobs, the Job cache, status, Events, the best
ConfigMap, the write limit."""

__all__: list[str] = []
