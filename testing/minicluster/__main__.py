"""Run an end-to-end cluster by hand: ``python -m minicluster up --state-dir DIR``.

``up`` starts the control plane and the node simulator in the foreground, prints the
``export KUBECONFIG=...`` line to use it from another shell, and tears everything down on
Ctrl-C (or SIGTERM). ``build`` runs the build scripts (etcd, then the Kubernetes
release). See HARNESS.md beside this file.
"""

from __future__ import annotations

import argparse
import shutil
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from minicluster import controlplane
from minicluster.harness import MARKER, Cluster


def prepare_state_dir(state_dir: Path) -> None:
    """Start from an empty state dir; only a former cluster's dir is wiped, nothing else."""
    if state_dir.exists() and any(state_dir.iterdir()):
        if not (state_dir / MARKER).exists():
            raise SystemExit(f"{state_dir} is not empty and not a cluster state dir: refusing")
        shutil.rmtree(state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)


def up(state_dir: Path, build: bool) -> int:
    missing = controlplane.missing_binaries()
    if missing and build:
        controlplane.build()
    elif missing:
        print(
            f"missing {', '.join(missing)}: run {controlplane.BUILD_SCRIPT} (or pass --build)",
            file=sys.stderr,
        )
        return 2
    prepare_state_dir(state_dir)
    stop = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    print(f"starting the cluster in {state_dir} ...", flush=True)
    with Cluster(state_dir) as cluster:
        print(f"cluster is up: {cluster.server}")
        print(f"logs: {cluster.controlplane.logs_dir}/")
        print(f"export KUBECONFIG={cluster.kubeconfig}")
        print("Ctrl-C tears it down.", flush=True)
        while not stop.wait(1.0):
            dead = [
                n
                for n in ("etcd", "kube-apiserver", "kube-controller-manager")
                if n not in cluster.controlplane.alive()
            ]
            if cluster.nodesim is not None and cluster.nodesim.poll() is not None:
                dead.append("nodesim")
            if dead:
                print(
                    f"{', '.join(dead)} died; tearing down\n{cluster.diagnostics()}",
                    file=sys.stderr,
                )
                return 1
        print("tearing down ...", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m minicluster", description="the tuneop end-to-end test cluster"
    )
    commands = parser.add_subparsers(dest="command", required=True)
    start = commands.add_parser("up", help="start a cluster in the foreground")
    start.add_argument("--state-dir", type=Path, default=Path("/tmp/tuneop-cluster"))
    start.add_argument(
        "--build", action="store_true", help="build the control plane first if needed"
    )
    commands.add_parser(
        "build", help="build (or find cached) kube-apiserver and kube-controller-manager"
    )
    args = parser.parse_args(argv)
    if args.command == "build":
        controlplane.build()
        return 0
    return up(args.state_dir.resolve(), args.build)


if __name__ == "__main__":
    sys.exit(main())
