"""What a worker reports, and how it is read: the result contract, the
runner's frames, result lines, intermediate reports, Katib's StdOut metrics,
a worker log of any size read in bounded memory.
"""

__all__: list[str] = []
