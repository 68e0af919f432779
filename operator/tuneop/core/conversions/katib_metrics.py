"""A Katib Experiment's metrics collector and early stopping, as tuneop's.

The collector: StdOut (Katib's default), File (``name=value`` lines, hypertune's
JSON lines, custom ``metricsFormat`` regexes) and TensorFlowEvent, read by
tuneop's own follower (``tuneop.core.jobs.metricsfile``), on the path given or Katib's
default one, and checked as Katib's webhook checks them (an absolute path, a format
of TEXT or JSON, no filter with JSON); Katib's Custom
collector, which Katib's own example marks as not working in v1beta1, becomes a
File collector on the path it names, with a note. Early stopping: Katib's
``medianstop`` becomes ``earlyStopping.type: medianStop`` with its two settings;
any other algorithm is named in a note.
"""

from __future__ import annotations

from typing import Any

from tuneop.core.conversions.katib_fields import KatibError, listed, mapping, number

__all__ = ["collector", "early_stopping"]

_MEDIAN_SETTINGS = {"min_trials_required": "minTrialsRequired", "start_step": "startStep"}
# Katib v0.19.0's collector kinds (common_types.go), and its default paths.
_KINDS = ("StdOut", "File", "TensorFlowEvent", "PrometheusMetric", "Custom", "Push")
_DEFAULT_PATHS = {
    "File": "/var/log/katib/metrics.log",
    "TensorFlowEvent": "/var/log/katib/tfevent/",
}


def _source(mc: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """``source.fileSystemPath`` and ``source.filter.metricsFormat``, their types checked."""
    where = "spec.metricsCollectorSpec.source"
    source = mapping(mc.get("source"), where)
    fs = mapping(source.get("fileSystemPath"), f"{where}.fileSystemPath")
    formats = listed(
        mapping(source.get("filter"), f"{where}.filter").get("metricsFormat"),
        f"{where}.filter.metricsFormat",
    )
    if not all(isinstance(f, str) for f in formats):
        raise KatibError(f"{where}.filter.metricsFormat: must be a list of strings")
    return fs, formats


def _checked(kind: Any, fs: dict[str, Any], filtered: bool) -> Any:
    """The collector's path, checked as Katib's webhook checks it after its defaults
    (``experiment_defaults.go``: File reads ``/var/log/katib/metrics.log`` in TEXT, and
    TensorFlowEvent ``/var/log/katib/tfevent/``, when no path is given)."""
    where = "spec.metricsCollectorSpec"
    if kind not in _KINDS:
        raise KatibError(
            f"{where}.collector.kind: invalid metrics collector kind: {str(kind)[:40]}"
        )
    path = fs.get("path") or _DEFAULT_PATHS.get(kind)
    source = f"{where}.source.fileSystemPath"
    named = kind in _DEFAULT_PATHS or (kind == "Custom" and path)
    if named and not (isinstance(path, str) and path.startswith("/")):
        raise KatibError(f"{source}.path: must be an absolute path")
    fmt = fs.get("format")
    if kind == "File" and fmt not in (None, "", "TEXT", "JSON"):
        raise KatibError(f"{source}.format: must be TEXT or JSON")
    if kind == "File" and fmt == "JSON" and filtered:
        raise KatibError(f"{where}.source.filter: must be empty when the format is JSON")
    if kind == "TensorFlowEvent" and fmt not in (None, ""):
        raise KatibError(f"{source}.format: must be empty for TensorFlowEvent")
    if kind == "TensorFlowEvent" and isinstance(path, str):  # a folder, written with its /
        return path.rstrip("/") or "/"
    return path


def collector(spec: dict[str, Any], notes: list[str]) -> dict[str, Any]:
    """Katib's collector as tuneop's ``metricsCollector`` (without its strategies)."""
    where = "spec.metricsCollectorSpec"
    mc = mapping(spec.get("metricsCollectorSpec"), where)
    kind = mapping(mc.get("collector"), f"{where}.collector").get("kind", "StdOut")
    fs, formats = _source(mc)
    filtered = mapping(mc.get("source"), f"{where}.source").get("filter") is not None
    path = _checked(kind, fs, filtered)
    out: dict[str, Any] = {"kind": "StdOut"}
    if kind in ("File", "TensorFlowEvent", "Custom") and isinstance(path, str) and path:
        out = {"kind": "TensorFlowEvent" if kind == "TensorFlowEvent" else "File", "path": path}
        if kind == "Custom":
            notes.append(
                f"{where}.collector: Custom (marked not working in v1beta1 by Katib's own"
                f" example) becomes a File collector on {path[:200]}; its image is not run"
            )
        if fs.get("format") == "JSON" and kind != "TensorFlowEvent":
            out["format"] = "JSON"
    elif kind != "StdOut":
        notes.append(
            f"{where}.collector.kind: {str(kind)[:40]} not carried over;"
            " the trial must print name=value on stdout"
        )
    if formats and out.get("format") != "JSON" and out["kind"] != "TensorFlowEvent":
        out["metricsFormat"] = list(formats)
    return out


def early_stopping(spec: dict[str, Any], notes: list[str]) -> dict[str, Any] | None:
    """Katib's ``medianstop`` as ``earlyStopping.type: medianStop``, its two settings
    (whole numbers of at least 1, as Katib's service validates them)."""
    where = "spec.earlyStopping"
    es = mapping(spec.get("earlyStopping"), where)
    if not es:
        return None
    name = es.get("algorithmName")
    if name != "medianstop":
        notes.append(f"{where}: {str(name)[:40]} not carried over (tuneop knows medianstop)")
        return None
    out: dict[str, Any] = {"type": "medianStop"}
    for i, setting in enumerate(listed(es.get("algorithmSettings"), f"{where}.algorithmSettings")):
        setting = mapping(setting, f"{where}.algorithmSettings[{i}]")
        key = _MEDIAN_SETTINGS.get(str(setting.get("name")))
        if key is None:
            raise KatibError(
                f"{where}.algorithmSettings[{i}].name: {str(setting.get('name'))[:40]} is not a"
                " medianstop setting (min_trials_required, start_step)"
            )
        value = number(setting.get("value"), f"{where}.algorithmSettings[{i}].value")
        if value != int(value) or value < 1:
            raise KatibError(f"{where}.algorithmSettings[{i}].value: must be a whole number >= 1")
        out[key] = int(value)
    return out
