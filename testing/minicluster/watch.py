"""Watching a collection from a thread: what the API server said, in the order it said it.

``Watcher`` lists one collection (Jobs, pods, TuningSessions ... of a namespace), then
watches it in a daemon thread and keeps the latest object per name, when each name was
first ADDED after the start and last seen (monotonic clock), and, given a ``summarize``
function, a history of every event. ``wait`` blocks until a predicate over that state is
true, waking on every event instead of polling the API.

``JobWatch`` is the Job watcher: on top of that it records each Job name's uids (a name
created twice has two) and the largest number of unfinished Jobs after any event. Events
come in resourceVersion order, so that peak is exact, not sampled.

A dropped connection resumes from the last resourceVersion seen (noted in ``reconnects``);
a watch the server ends with an error (410 Gone: events were missed) is noted in
``errors``, since the record now has a gap, and the collection is listed again. ``stop``
shuts the open response down, so it returns at once whatever the server-side timeout.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from minicluster.kube import ApiException, Json, Kube

T = TypeVar("T")

MAX_RECONNECTS = 20


def job_done(job: Json) -> str | None:
    """``Complete`` or ``Failed`` once the Job has that condition, else None."""
    for cond in (job.get("status") or {}).get("conditions") or []:
        if cond.get("type") in {"Complete", "Failed"} and cond.get("status") == "True":
            return str(cond["type"])
    return None


class Watcher:
    """List, then watch, one collection in a thread (``start``/``stop`` or ``with``)."""

    def __init__(
        self,
        kubeconfig: Path | str,
        path: str,
        selector: str | None = None,
        *,
        summarize: Callable[[Json], Json] | None = None,
        timeout_seconds: int = 30,
    ) -> None:
        self.kubeconfig = str(kubeconfig)
        self.path = path
        self.selector = selector
        self.summarize = summarize
        self.timeout_seconds = timeout_seconds
        self.objects: dict[str, Json] = {}
        self.first_seen: dict[str, float] = {}  # ADDED after the start
        self.seen_at: dict[str, float] = {}  # the latest event
        # (monotonic time, event type, name, summary) of every event, when summarize is given
        self.history: list[tuple[float, str, str, Json]] = []
        self.errors: list[str] = []  # what makes the record incomplete
        self.reconnects: list[str] = []
        self.error: BaseException | None = None  # the watch gave up: wait() raises it
        self.cond = threading.Condition()
        self._stopping = threading.Event()
        self._ready = threading.Event()
        self._response: Any = None
        self._thread: threading.Thread | None = None

    def start(self) -> Watcher:
        """Start watching; return once the first listing is recorded."""
        self._thread = threading.Thread(target=self._run, name=f"watch {self.path}", daemon=True)
        self._thread.start()
        if not self._ready.wait(30) or self.error is not None:
            raise RuntimeError(f"watch of {self.path} did not start: {self.error!r}")
        return self

    def stop(self) -> None:
        self._stopping.set()
        response = self._response
        if response is not None:
            # Interrupts the thread's blocking read (urllib3 >= 2.3).
            response.shutdown()
        if self._thread is not None:
            self._thread.join(timeout=15)
            self._thread = None

    def __enter__(self) -> Watcher:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def wait(
        self,
        what: str,
        predicate: Callable[[], T],
        timeout: float,
        check: Callable[[], object] | None = None,
    ) -> T:
        """Wait until ``predicate()`` (called under the lock) is truthy; return its value.

        ``check`` runs at least once a second; it raises to abandon the wait (e.g. when the
        process under test died).
        """
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                if self.error is not None:
                    raise RuntimeError(f"watch of {self.path} failed: {self.error!r}")
                value = predicate()
                if value:
                    return value
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
                self.cond.wait(min(left, 1.0))
                if check is not None:
                    check()

    # -- the thread ---------------------------------------------------------------------------

    def _run(self) -> None:
        kube = Kube(self.kubeconfig)
        try:
            version = self._list(kube)
            self._ready.set()
            while not self._stopping.is_set():
                version = self._follow(kube, version)
        except BaseException as error:
            if not self._stopping.is_set():
                self.error = error
        finally:
            self._ready.set()
            kube.close()
            with self.cond:
                self.cond.notify_all()

    def _follow(self, kube: Kube, version: str) -> str:
        """One watch request, until the server ends it; the resourceVersion to resume from."""
        query = {"labelSelector": self.selector} if self.selector else {}
        try:
            for event in kube.watch(
                self.path,
                version,
                timeout_seconds=self.timeout_seconds,
                on_response=self._opened,
                **query,
            ):
                kind, obj = str(event.get("type")), event.get("object") or {}
                if kind == "ERROR":
                    self.errors.append(f"watch error: {obj}")
                    return self._list(kube)
                version = str((obj.get("metadata") or {}).get("resourceVersion") or version)
                if kind != "BOOKMARK":
                    self._apply(kind, obj)
        except Exception as error:
            if self._stopping.is_set():
                return version
            if isinstance(error, ApiException) and error.status == 410:
                self.errors.append(f"watch answered 410 Gone: {error.reason}")
                return self._list(kube)
            self.reconnects.append(f"{type(error).__name__}: {error}")
            if len(self.reconnects) > MAX_RECONNECTS:
                self.errors.append(f"gave up after: {self.reconnects[-1]}")
                raise
            self._stopping.wait(0.2)  # a pause before reconnecting, not a synchronization
        finally:
            self._response = None
        return version

    def _opened(self, response: Any) -> None:
        self._response = response
        if self._stopping.is_set():
            response.shutdown()

    def _list(self, kube: Kube) -> str:
        """(Re)list: the listing replaces what is known; names gone count as DELETED."""
        query = {"labelSelector": self.selector} if self.selector else {}
        listing = kube.get(self.path, **query)
        items = {str(obj["metadata"]["name"]): obj for obj in listing.get("items") or []}
        with self.cond:
            for name in [n for n in self.objects if n not in items]:
                self._record("DELETED", self.objects[name], listed=True)
            for obj in items.values():
                self._record("LISTED", obj, listed=True)
            self.cond.notify_all()
        return str(listing["metadata"]["resourceVersion"])

    def _apply(self, kind: str, obj: Json) -> None:
        with self.cond:
            self._record(kind, obj, listed=False)
            self.cond.notify_all()

    def _record(self, kind: str, obj: Json, *, listed: bool) -> None:
        """Take one event into the record (the lock is held)."""
        now = time.monotonic()
        name = str(obj["metadata"]["name"])
        if kind == "ADDED" and name not in self.first_seen:
            self.first_seen[name] = now
        if kind == "DELETED":
            self.objects.pop(name, None)
        else:
            self.objects[name] = obj
        if not listed:
            self.seen_at[name] = now
            if self.summarize is not None:
                self.history.append((now, kind, name, self.summarize(obj)))
        self.observe(kind, obj)

    def observe(self, kind: str, obj: Json) -> None:
        """What a subclass keeps of each event, listed or watched (the lock is held)."""


class JobWatch(Watcher):
    """The Jobs of a namespace: also each name's uids and the peak of unfinished Jobs."""

    def __init__(
        self,
        kubeconfig: Path | str,
        namespace: str,
        selector: str | None = None,
        *,
        summarize: Callable[[Json], Json] | None = None,
    ) -> None:
        super().__init__(
            kubeconfig, f"/apis/batch/v1/namespaces/{namespace}/jobs", selector, summarize=summarize
        )
        self.namespace = namespace
        self.created: dict[str, list[str]] = {}
        self.peak_unfinished = 0
        self._unfinished: dict[str, bool] = {}

    def start(self) -> JobWatch:
        super().start()
        return self

    def __enter__(self) -> JobWatch:
        return self.start()

    def names(self) -> set[str]:
        """Every Job name seen since the start (existing then, or created since)."""
        with self.cond:
            return set(self.created)

    def duplicates(self) -> dict[str, list[str]]:
        """Names that were created more than once, with their uids."""
        with self.cond:
            return {name: uids for name, uids in self.created.items() if len(uids) > 1}

    def observe(self, kind: str, obj: Json) -> None:
        meta = obj["metadata"]
        name, uid = str(meta["name"]), str(meta["uid"])
        uids = self.created.setdefault(name, [])
        if uid not in uids:
            uids.append(uid)
        if kind == "DELETED":
            self._unfinished.pop(uid, None)
        else:
            self._unfinished[uid] = job_done(obj) is None
        self.peak_unfinished = max(self.peak_unfinished, sum(self._unfinished.values()))
