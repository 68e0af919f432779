"""``python -m bench.katib``: the same experiment through tuneop and through Katib, one cluster.

For each algorithm and seed, the tuneop session (``tuneop import katib`` of the Experiment)
and then the Katib Experiment run on the same bench cluster (audit log on), one at a time;
each result is printed with the machine's load and the record is rewritten after every run
(bench/results/katib-side-by-side-<trials>x<parallel>.json), so a cut-short run keeps what
it measured.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.cluster.cluster import BenchCluster
from bench.common import load_average, save
from bench.katib.components import DB_MANAGER_PORT, DbManager, Postgres
from bench.katib.controller import KatibController
from bench.katib.experiment import KATIB_HOME
from bench.katib.run import _children, run_floor, run_katib, run_tuneop

__all__ = ["main"]


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.katib", description=__doc__)
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--parallel", type=int, default=20)
    parser.add_argument("--algorithms", default="random,tpe", help="comma-separated: random,tpe")
    parser.add_argument("--seeds", default="1", help="comma-separated hyperopt random_state")
    parser.add_argument("--timeout", type=float, default=3600, help="per run, seconds")
    parser.add_argument("--state-dir", type=Path, default=None)
    parser.add_argument("--record", default=None, help="record name (default from the sizes)")
    parser.add_argument(
        "--floor", action="store_true", help="also bare Jobs of the same trial, first seed only"
    )
    return parser.parse_args(argv)


def summary(result: dict[str, Any], trials: int) -> str:
    first = result["first_pod_s"]
    return (
        f"{result['system']:9} {result['seconds']:7.1f} s  first pod "
        f"{'-' if first is None else f'{first:.2f} s'}  {result['requests'] / trials:.2f} req/trial"
        f"  best {result['best']}  rss {result['rss_peak_mb']}  ({load_average()})"
    )


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if not (KATIB_HOME / "bin" / "katib-controller").exists():
        print(f"no Katib build in {KATIB_HOME}: run bash bench/katib/build.sh", file=sys.stderr)
        return 2
    state = args.state_dir or Path(tempfile.mkdtemp(prefix="tuneop-katib-bench-"))
    state.mkdir(parents=True, exist_ok=True)
    os.chmod(state, 0o755)  # postgres (its own user) must reach its data directory
    name = args.record or f"katib-side-by-side-{args.trials}x{args.parallel}"
    record: dict[str, Any] = {"trials": args.trials, "maxParallel": args.parallel, "runs": []}
    print(f"# Katib side by side: {args.trials} trials, maxParallel {args.parallel}")
    print(f"state dir {state}; {load_average()}", flush=True)
    bc = BenchCluster(state)
    pieces: list[Any] = []
    try:
        bc.start()
        bc.apply_crd()
        for crd in sorted((KATIB_HOME / "crds").glob("*.yaml")):
            bc.cluster.kubectl("apply", "-f", str(crd))
        plane = bc.cluster.controlplane
        assert plane.pki is not None
        db = Postgres(state / "katib-pg").start()
        pieces.append(db)
        manager = DbManager(state, db).start()
        pieces.append(manager)
        katib = KatibController(state, plane.pki.ca, plane.server, bc.kube).start()
        pieces.append(katib)
        assert db.process and manager.process
        groups = {
            "controller": lambda: [katib.pid],
            "db-manager": lambda: [manager.process.pid],  # type: ignore[union-attr]
            "postgres": lambda: [db.process.pid, *_children(db.process.pid)],  # type: ignore[union-attr]
        }
        # Seeds outermost: a run cut short still has every algorithm at the first seeds.
        for seed in (int(s) for s in args.seeds.split(",")):
            for algorithm in args.algorithms.split(","):
                case = {"algorithm": algorithm, "seed": seed, "trials": args.trials,
                        "parallel": args.parallel, "timeout": args.timeout,
                        "db_manager": f"127.0.0.1:{DB_MANAGER_PORT}"}  # fmt: skip
                floor = args.floor and algorithm == args.algorithms.split(",")[0]
                floor = floor and seed == int(args.seeds.split(",")[0])
                for system in ("bare Jobs", "tuneop", "katib")[0 if floor else 1 :]:
                    print(f"{algorithm} seed {seed}: {system} ...", flush=True)
                    load_before = os.getloadavg()
                    if system == "bare Jobs":
                        result = run_floor(bc, case)
                    elif system == "tuneop":
                        result = run_tuneop(bc, case, state)
                    else:
                        result = run_katib(bc, katib, groups, case)
                    result.update(case, load_before=load_before, load_after=os.getloadavg(),
                                  when=time.strftime("%H:%M:%SZ", time.gmtime()))  # fmt: skip
                    record["runs"].append(result)
                    print("  " + summary(result, args.trials), flush=True)
                    save(name, record)
    finally:
        for piece in reversed(pieces):
            piece.stop()
        bc.stop()
    print(f"record: bench/results/{name}.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
