"""The TuningSession API: spec and status models, vocabulary, CRD and RBAC data.

Pure data and validation (pydantic); it imports nothing else of tuneop.
"""

__all__ = []
