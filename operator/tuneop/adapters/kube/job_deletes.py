"""Harvested Jobs deleted together: one DELETE of the Job collection per batch.

After a harvest the operator deletes every Job it harvested itself (a
``ttlSecondsAfterFinished`` would leave them to the cluster's timing). Several
Jobs of one session go in one ``deletecollection`` request, selected by the
session's label and an ``index in (...)`` set over their index labels, at most
``DELETE_BATCH`` at a time so the label selector stays short. A name that is not
the session's own ``job_name`` for its index is never selected by labels: only its
own DELETE may touch it.

An RBAC without ``deletecollection`` on Jobs (a chart from before it was granted)
answers 403: from then on ``BatchDeletes`` deletes each Job by its own DELETE, the
request every RBAC of the operator allows, and says so in one log line. The operator
builds one backend, so that is once per process.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from tuneop.adapters.kube import paths
from tuneop.adapters.kube.transport import Kube
from tuneop.api.session import SessionRef
from tuneop.api.vocabulary import LABEL_JOB_INDEX
from tuneop.core.jobs.manifests import job_name, selector

__all__ = ["DELETE_BATCH", "BatchDeletes", "indexed"]

log = logging.getLogger(__name__)

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


@dataclass
class BatchDeletes:
    """A session's harvested Jobs deleted a collection at a time, or one by one once the
    API server has refused a collection's DELETE."""

    kube: Kube
    # deletecollection was refused (403): every Job its own DELETE from then on.
    refused: bool = False

    def delete(
        self,
        ref: SessionRef,
        names: Sequence[str],
        one: Callable[[str], None],
        gone: Callable[[str], None],
    ) -> None:
        """Delete ``names``: ``one`` deletes a Job by itself; ``gone`` is told of each Job
        a collection's DELETE took."""
        by_index = None if self.refused else indexed(ref, names)
        if by_index is None:
            for name in names:
                one(name)
            return
        indexes = sorted(by_index)
        for first in range(0, len(indexes), DELETE_BATCH):
            batch = indexes[first : first + DELETE_BATCH]
            took = not self.refused and self._collection(ref, batch)
            for index in batch:
                (gone if took else one)(by_index[index])

    def _collection(self, ref: SessionRef, indexes: Sequence[int]) -> bool:
        """One DELETE of the Jobs at ``indexes``; False when the API server refused it."""
        chosen = f"{LABEL_JOB_INDEX} in ({','.join(str(i) for i in indexes)})"
        reply = self.kube.request(
            "delete_jobs",
            "DELETE",
            paths.jobs(ref.namespace),
            query=[
                ("labelSelector", f"{selector(ref.name)},{chosen}"),
                ("propagationPolicy", "Background"),
            ],
            expect=(403,),
            # The answer lists the Jobs deleted, whole: counted, never kept.
            read=_drain,
        )
        if reply.status != 403:
            return True
        self.kube.count("delete_jobs", 403)
        self.refused = True
        log.warning(
            "deleting Jobs one by one from now on: the API server refused deletecollection"
            " on jobs in %s (403; the operator's RBAC lacks it, e.g. an older chart)",
            ref.namespace,
        )
        return False


def _index_of(ref: SessionRef, name: str) -> int | None:
    """The index of the session's Job ``name``, when ``job_name`` gives that name for it."""
    tail = name.rpartition("-")[2]
    if not (tail.isascii() and tail.isdigit() and len(tail) < 10):
        return None
    return int(tail) if job_name(ref.name, int(tail)) == name else None


def _drain(chunks: Iterable[bytes]) -> int:
    return sum(len(chunk) for chunk in chunks)
