"""Side by side with Katib v0.19.0 on the bench cluster (bench/katib/README.md).

``build.sh`` builds Katib from the Go module proxy and PyPI; ``components`` and
``controller`` run its PostgreSQL, DB manager and controller beside the e2e control plane;
``experiment`` is the shared experiment and its ``tuneop import katib`` conversion; ``run``
measures one system; ``python -m bench.katib`` runs both and writes bench/results/.
"""

__all__: list[str] = []
