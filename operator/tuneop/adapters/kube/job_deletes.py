"""Harvested Jobs deleted together: one DELETE of the Job collection per batch.

After a harvest the operator deletes every Job it harvested itself (a
``ttlSecondsAfterFinished`` would leave them to the cluster's timing). Several
Jobs of one session go in one ``deletecollection`` request, selected by the
session's label and an ``index in (...)`` set over their index labels, at most
``DELETE_BATCH`` at a time so the label selector stays short. A name that is not
the session's own ``job_name`` for its index is never selected by labels: only its
own DELETE may touch it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

from tuneop.adapters.kube import paths
from tuneop.adapters.kube.transport import Kube
from tuneop.api.session import SessionRef
from tuneop.api.vocabulary import LABEL_JOB_INDEX
from tuneop.core.jobs.manifests import job_name, selector

__all__ = ["DELETE_BATCH", "delete_collection", "indexed"]

# Jobs named in one DELETE of the collection, at most (the label selector stays short).
DELETE_BATCH = 50


def indexed(ref: SessionRef, names: Sequence[str]) -> dict[int, str] | None:
    """``names`` by their index, when there are several and each is the session's own
    name for its index; None: delete them one by one."""
    by_index: dict[int, str] = {}
    for name in names:
        index = _index_of(ref, name)
        if index is None or index in by_index:
            return None
        by_index[index] = name
    return by_index if len(by_index) > 1 else None


def delete_collection(kube: Kube, ref: SessionRef, by_index: dict[int, str]) -> Iterator[list[str]]:
    """Delete these Jobs a batch at a time; yields each batch's names once deleted."""
    indexes = sorted(by_index)
    for first in range(0, len(indexes), DELETE_BATCH):
        batch = indexes[first : first + DELETE_BATCH]
        chosen = f"{LABEL_JOB_INDEX} in ({','.join(str(i) for i in batch)})"
        kube.request(
            "delete_jobs",
            "DELETE",
            paths.jobs(ref.namespace),
            query=[
                ("labelSelector", f"{selector(ref.name)},{chosen}"),
                ("propagationPolicy", "Background"),
            ],
            # The answer lists the Jobs deleted, whole: counted, never kept.
            read=_drain,
        )
        yield [by_index[i] for i in batch]


def _index_of(ref: SessionRef, name: str) -> int | None:
    """The index of the session's Job ``name``, when ``job_name`` gives that name for it."""
    tail = name.rpartition("-")[2]
    if not (tail.isascii() and tail.isdigit() and len(tail) < 10):
        return None
    return int(tail) if job_name(ref.name, int(tail)) == name else None


def _drain(chunks: Iterable[bytes]) -> int:
    return sum(len(chunk) for chunk in chunks)
