"""``tuneop import katib FILE``: a Katib v1beta1 Experiment as a TuningSession.

The conversion itself is pure (``tuneop.core.conversions.katib``); this reads the
file within the YAML budget (``tuneop.cli.inputs``), prints one ``note:`` line on
stderr per field that does not carry over as Katib runs it (with ``--strict``,
those lines are ``error:`` lines and the command exits 2 writing nothing), checks
the result is a valid session, writes it as YAML to stdout or ``-o FILE``, and
ends with the command that runs it.

An Experiment whose trial template is in a ConfigMap (``trialTemplate.configMap``)
needs that ConfigMap: ``--configmap FILE`` (a YAML file holding it, as
``kubectl get configmap -o yaml`` writes it or as Katib ships it) or
``--from-cluster`` (read from the cluster of ``--kubeconfig``).
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path
from typing import Any

from tuneop.api.errors import SpecError
from tuneop.cli.inputs import UsageError, yaml_docs
from tuneop.cli.text import clean

__all__ = ["cmd_import"]


def _grid_note(spec: Any) -> str | None:
    """A grid the budget cuts short, named: which points run differs from Katib's."""
    from tuneop.core.suggest.search import grid_size

    if spec.optimizer.type != "grid" or spec.total_trials is None:
        return None
    size = grid_size(spec)
    if spec.total_trials >= size:
        return None
    return (
        f"spec.maxTrialCount: {spec.total_trials} of the grid's {size} points run, the first"
        " in grid order (Katib draws unvisited points at random)"
    )


def _next_step(output: str | None) -> str:
    if output is None:
        return "run it: save it with -o session.yaml, then tuneop run session.yaml"
    name = shlex.quote(output)
    return f"run it: tuneop run {name} (add --local to run the trials on this machine)"


def cmd_import(args: argparse.Namespace) -> int:
    """``tuneop import katib FILE``: a Katib Experiment as a TuningSession."""
    import yaml

    from tuneop.api.session import parse_manifest
    from tuneop.core.conversions.katib import KatibError, convert_experiment
    from tuneop.core.extras import missing_module, needs

    docs = [d for d in yaml_docs(args.file) if isinstance(d, dict)]
    found = [d for d in docs if d.get("kind") == "Experiment"]
    if len(found) != 1:
        raise UsageError(f"{args.file}: expected one Katib Experiment, found {len(found)}")
    try:
        config_map = _config_map(args, found[0])
        gp = missing_module("torch") is None
        doc, notes = convert_experiment(found[0], gp=gp, config_map=config_map)
        if doc["spec"]["optimizer"]["type"] == "qmc" and missing_module("scipy"):
            # Carried over whole: only this machine lacks it (a cluster's operator has it),
            # so a notice, which --strict does not refuse.
            what = "spec.algorithm.algorithmName: sobol (qmc) here"
            print(f"notice: {needs(what, 'scipy')}", file=sys.stderr)
    except KatibError as err:
        raise UsageError(f"{args.file}: {err}") from None
    try:
        session = parse_manifest(doc)
    except SpecError as err:
        raise err.prefixed(f"{args.file}: as a TuningSession, ") from None
    if grid := _grid_note(session.spec):
        notes.append(grid)
    strict = getattr(args, "strict", False)
    for note in notes:
        word = "error" if strict else "note"
        print(f"{word}: {clean(note)}", file=sys.stderr)
    if strict and notes:
        return 2
    text = yaml.safe_dump(doc, sort_keys=False, width=100)
    if args.output:
        Path(args.output).write_text(text)
    else:
        sys.stdout.write(text)
    print(clean(_next_step(args.output)), file=sys.stderr)
    return 0


def _config_map(args: argparse.Namespace, experiment: dict[str, Any]) -> dict[str, Any] | None:
    """The ConfigMap the trial template names, from ``--configmap`` or the cluster."""
    from tuneop.core.conversions.katib_configmap import configmap_ref

    if args.configmap and args.from_cluster:
        raise UsageError("--configmap, --from-cluster: give one of them")
    if not (args.configmap or args.from_cluster):
        return None
    spec = experiment.get("spec")
    tt = spec.get("trialTemplate") if isinstance(spec, dict) else None
    if not isinstance(tt, dict) or tt.get("configMap") is None:
        flag = "--configmap" if args.configmap else "--from-cluster"
        print(f"note: {flag}: the trial template is not in a ConfigMap; not used", file=sys.stderr)
        return None
    namespace, name, _ = configmap_ref(tt)
    if args.configmap:
        return _from_file(args.configmap, namespace, name)
    return _from_cluster(args.kubeconfig, namespace, name)


def _from_file(path: str, namespace: str, name: str) -> dict[str, Any]:
    for doc in yaml_docs(path):
        if not isinstance(doc, dict) or doc.get("kind") != "ConfigMap":
            continue
        meta = doc.get("metadata")
        meta = meta if isinstance(meta, dict) else {}
        if meta.get("name") == name and meta.get("namespace") in (None, namespace):
            return doc
    raise UsageError(
        f"--configmap {clean(path)}: holds no ConfigMap {clean(namespace)}/{clean(name)}"
    )


def _from_cluster(kubeconfig: str | None, namespace: str, name: str) -> dict[str, Any]:
    from tuneop.assembly.cli_clients import cluster_config_maps
    from tuneop.core.extras import missing_module, needs
    from tuneop.ports import Rejected, TransientError

    if missing_module("kubernetes") is not None:  # not the kubeconfig's fault
        raise UsageError(
            f"{needs('--from-cluster', 'kubernetes')}; or give the ConfigMap with --configmap FILE"
        )
    try:
        maps = cluster_config_maps(kubeconfig)
    except Exception as err:  # a missing or broken kubeconfig: one line, not a traceback
        raise UsageError(
            f"--from-cluster: cannot load the kubeconfig ({type(err).__name__});"
            " give --kubeconfig FILE, or the ConfigMap with --configmap FILE"
        ) from None
    try:
        found = maps.read(namespace, name)
    except (Rejected, TransientError) as err:
        raise UsageError(
            f"--from-cluster: ConfigMap {clean(namespace)}/{clean(name)}: {clean(str(err), 200)}"
        ) from None
    finally:
        maps.close()
    if found is None:
        raise UsageError(
            f"--from-cluster: ConfigMap {clean(namespace)}/{clean(name)} is not on the cluster"
        )
    return found
