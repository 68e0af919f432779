"""Pod volumes on the simulated node: ConfigMap, Secret, emptyDir and downward API.

Each such volume is a directory under the pod's directory (``volumes/<name>/``):
an emptyDir (any ``medium``) is an empty directory shared by all the pod's
containers for the pod's life (an init container's files are there for the
main containers); a ConfigMap or Secret volume holds one file per key (or per
``items`` entry), Secret values decoded; a downward-API volume holds its
``fieldRef`` items. A missing ConfigMap or Secret that is not ``optional`` is a
``ConfigError`` (the container waits in ``CreateContainerConfigError``). A
volume is written once, when the pod's first container starts (a kubelet
would also follow later changes of a ConfigMap).

A container sees its mounts at their ``mountPath`` because its process runs in
a mount namespace of its own (util-linux ``unshare --mount``, private
propagation) where each volume's directory is bind-mounted there (read-only
for ``readOnly`` mounts); a mount point missing on the host is created as an
empty directory. That needs root; without it, volumes are not mounted and the
process sees the host's paths. Other volume kinds (PVC, hostPath, projected
service-account tokens, ...) are not materialised.
"""

from __future__ import annotations

import base64
import os
import shutil
import sys
from pathlib import Path
from typing import Any

from minicluster.kube import Kube
from minicluster.pods import ConfigError, field_value

Json = dict[str, Any]

UNSHARE = shutil.which("unshare")
# bash, not dash: dash takes single-digit file descriptors only (seven mounts at most).
SHELL = shutil.which("bash") or "/bin/sh"
_FIRST_FD = 3


def can_mount() -> bool:
    return UNSHARE is not None and os.geteuid() == 0


def _source(kube: Kube, namespace: str, kind: str, name: str, optional: bool) -> Json | None:
    obj = kube.get_or_none(f"/api/v1/namespaces/{namespace}/{kind}/{name}")
    if obj is None and not optional:
        raise ConfigError(f'{kind[:-1]} "{name}" not found')
    return obj


def _key_files(obj: Json | None, secret: bool, items: list[Json] | None) -> dict[str, bytes]:
    data: dict[str, bytes] = {}
    for key, value in ((obj or {}).get("data") or {}).items():
        data[key] = base64.b64decode(value) if secret else str(value).encode()
    for key, value in ((obj or {}).get("binaryData") or {}).items():
        data[key] = base64.b64decode(value)
    if items is None:
        return data
    return {i["path"]: data[i["key"]] for i in items if i.get("key") in data}


def _write(folder: Path, files: dict[str, bytes]) -> None:
    folder.mkdir(parents=True)
    for rel, content in files.items():
        path = folder / rel
        if not path.resolve().is_relative_to(folder.resolve()):
            continue  # a key that climbs out of its volume is not written
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)


def materialise(kube: Kube, pod: Json, pod_dir: Path) -> dict[str, Path]:
    """The pod's volumes that the node provides, by name, written under ``pod_dir``."""
    namespace = pod["metadata"]["namespace"]
    out: dict[str, Path] = {}
    for volume in pod["spec"].get("volumes") or []:
        folder = pod_dir / "volumes" / volume["name"]
        if folder.is_dir():
            pass  # written when the pod's first container started; containers share it
        elif "emptyDir" in volume:
            folder.mkdir(parents=True, exist_ok=True)
        elif "configMap" in volume or "secret" in volume:
            secret = "secret" in volume
            ref = volume["secret" if secret else "configMap"]
            name = ref.get("secretName") if secret else ref.get("name")
            kind = "secrets" if secret else "configmaps"
            obj = _source(kube, namespace, kind, str(name), bool(ref.get("optional", False)))
            _write(folder, _key_files(obj, secret, ref.get("items")))
        elif "downwardAPI" in volume:
            items = volume["downwardAPI"].get("items") or []
            files = {
                i["path"]: field_value(pod, i["fieldRef"]["fieldPath"]).encode()
                for i in items
                if "fieldRef" in i
            }
            _write(folder, files)
        else:
            continue  # not provided by this node (PVC, hostPath, projected, ...)
        out[volume["name"]] = folder
    return out


def _mount_script(mounts: list[tuple[str, str, bool]]) -> str:
    """A shell script binding each (source, target, read-only) given as $1, $2, ... then
    running what follows. Every source is opened before the first bind: a bind over
    ``/tmp`` would otherwise hide the sources that live under it. ``--no-canonicalize``
    keeps mount(8) from turning ``/proc/self/fd/N`` back into a path, which names
    another directory once a bind has covered it."""
    lines = []
    for i in range(len(mounts)):
        lines.append(f'exec {_FIRST_FD + i}<"${{{2 * i + 1}}}" || exit 125')
    for i, (_, _, read_only) in enumerate(mounts):
        fd, target = _FIRST_FD + i, f'"${{{2 * i + 2}}}"'
        bind = f"mount --no-canonicalize --bind /proc/self/fd/{fd} {target}"
        lines.append(f"mkdir -p {target} && {bind} || exit 125")
        if read_only:
            lines.append(f"mount -o remount,bind,ro {target} || exit 125")
    closes = " ".join(f"{_FIRST_FD + i}<&-" for i in range(len(mounts)))
    lines += [f"exec {closes}", f"shift {2 * len(mounts)}", 'exec "$@"']
    return "\n".join(lines) + "\n"


def _hidden(pod_dir: Path, binds: list[tuple[str, str, bool]]) -> list[Path]:
    """The host paths a pod process needs that a bind target would cover, outermost only."""
    repo = Path(__file__).resolve().parents[2]
    extra = [Path(p) for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    needed = [pod_dir, Path(sys.prefix), Path(sys.base_prefix), repo, *extra]
    targets = [Path(target) for _, target, _ in binds]
    covered = sorted(
        {p for p in needed if any(p != t and p.is_relative_to(t) for t in targets)},
        key=lambda p: len(p.parts),
    )
    return [p for i, p in enumerate(covered) if not any(p.is_relative_to(q) for q in covered[:i])]


def mounted(argv: list[str], container: Json, volumes: dict[str, Path], pod_dir: Path) -> list[str]:
    """``argv`` run in a mount namespace where the container's volume mounts are in place.

    A mount over an ancestor of what the pod's process needs from this host (``/tmp``,
    with the pod under pytest's temporary folder, or a checkout and its virtualenv under
    ``/tmp``) would hide it: its own files (its kubeconfig, its work dir), the Python that
    runs it and the sources it imports. Those are bound back at their own paths after
    the others (``_hidden``)."""
    mounts = [m for m in container.get("volumeMounts") or [] if m.get("name") in volumes]
    if not mounts or not can_mount():
        return argv
    binds = [
        (
            str(volumes[m["name"]] / m.get("subPath", "")),
            str(m["mountPath"]),
            bool(m.get("readOnly")),
        )
        for m in sorted(mounts, key=lambda m: len(Path(m["mountPath"]).parts))
    ]
    binds += [(str(path), str(path), False) for path in _hidden(pod_dir, binds)]
    args = [word for source, target, _ in binds for word in (source, target)]
    assert UNSHARE is not None
    script = _mount_script(binds)
    return [
        UNSHARE,
        "--mount",
        "--propagation",
        "private",
        "--",
        SHELL,
        "-c",
        script,
        "sh",
        *args,
        *argv,
    ]
