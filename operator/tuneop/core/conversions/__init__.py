"""Other formats turned into a session: Katib Experiments and JSONL
job plans. Nothing else in the core imports them.
"""

__all__: list[str] = []
