"""The Kubernetes controller: kopf handlers, their scheduling, runtime state, metrics."""

__all__ = []
