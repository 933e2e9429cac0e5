"""Independent runs at once in joblib's worker processes (``model.n_jobs``, ``IDC(n_jobs=...)``): always the loky
process backend, never threads (torch's seeds and thread count and the loggers are per process, and joblib picks
threads for a pool started inside another one's worker), the cores split between the workers.

A signal that stops a run (:mod:`idc.signals`) stops its workers too, where this process raises
:class:`~idc.signals.Interrupted` on it (``idc-train``): the first one is passed on to the workers (SIGTERM: each
stops at the end of its epoch; SIGUSR1: at once) and marks the batch stopped, so that calls still queued return
without starting; :class:`~idc.signals.Interrupted` is raised once every worker has ended. A second signal, or a
system without ``/proc`` to find the workers by, raises at once (joblib then kills the workers, which resume from
their last periodic checkpoint)."""
from __future__ import annotations

import os
import signal
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from idc import signals
from idc.console import apply_threads, threads_for


def worker_threads(setting: Any, jobs: int) -> int:
    """Torch threads of each of ``jobs`` workers: ``setting`` when given (per run), else this process's share
    (``OMP_NUM_THREADS`` where a launcher set it, else the available cores) split between them."""
    if setting not in (None, "auto"):
        return threads_for(setting)
    return max(1, threads_for(None) // max(int(jobs), 1))


def run_in_processes(fn: Callable[..., Any], calls: Sequence[tuple], jobs: int, threads: int,
                     done: Callable[[int, Any], None] | None = None) -> list[Any]:
    """``[fn(*args) for args in calls]``, ``jobs`` at once in worker processes with ``threads`` torch threads each;
    ``done(i, result)`` as each finishes. A failing call does not stop the others: once all have ended,
    :class:`~idc.signals.Interrupted` is raised if a signal stopped the batch, else the first failure (in call
    order)."""
    from joblib import Parallel, delayed

    results: list[Any] = [None] * len(calls)
    failures: dict[int, BaseException] = {}
    stop_file = Path(tempfile.gettempdir()) / f"idc-stop-{uuid.uuid4().hex}"
    try:
        with passed_on_to_workers(stop_file) as received:
            outcomes = Parallel(n_jobs=jobs, backend="loky", return_as="generator_unordered")(
                delayed(_call)(i, fn, args, threads, stop_file, os.getpid()) for i, args in enumerate(calls))
            try:
                for i, ok, value in outcomes:
                    if ok:
                        results[i] = value
                        if done is not None:
                            done(i, value)
                    else:
                        failures[i] = value
            except Exception:
                if received:  # a worker that the signal reached before its call had begun: the pool broke
                    raise signals.Interrupted(received[0]) from None
                raise
    finally:
        stop_file.unlink(missing_ok=True)
    stopped = [f for f in failures.values() if isinstance(f, signals.Interrupted)]
    if received or stopped:
        raise signals.Interrupted(received[0]) if received else stopped[0]
    if failures:
        raise failures[min(failures)]
    return results


@contextmanager
def passed_on_to_workers(stop_file: Path) -> Iterator[list[int]]:
    """While the workers run: the first of the signals this process handles (:func:`idc.signals.handled_here`) is
    noted (in the yielded list and :data:`idc.signals.RECEIVED`), marks the batch stopped (``stop_file``) and is
    sent to the workers; a second one, or one with no worker found, raises :class:`~idc.signals.Interrupted` at
    once. Nothing changes where this process does not handle them (a library user's own process)."""
    received: list[int] = []
    handled = signals.handled_here()

    def pass_on(signum: int, frame: Any) -> None:
        signals.RECEIVED.append(int(signum))
        workers = loky_workers()
        if received or not workers:
            raise signals.Interrupted(signum)
        received.append(int(signum))
        stop_file.touch()
        for pid in workers:
            try:
                os.kill(pid, signum)
            except ProcessLookupError:
                pass

    previous = {s: signal.signal(s, pass_on) for s in handled}
    try:
        yield received
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def loky_workers() -> list[int]:
    """The process ids of this process's loky workers, from ``/proc`` (none where there is no ``/proc``)."""
    me, found = os.getpid(), []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            if parent == me and b"popen_loky" in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
        except (OSError, ValueError, IndexError):  # a process that ended meanwhile
            continue
    return found


def _call(i: int, fn: Callable[..., Any], args: tuple, threads: int, stop_file: Path,
          parent: int) -> tuple[int, bool, Any]:
    """One call: ``(i, True, result)`` or ``(i, False, the exception)``; at once ``Interrupted`` when the batch is
    stopped (``stop_file``). In a worker process (not ``parent``, where joblib may also run calls), during the call
    SIGTERM and SIGUSR1 raise :class:`~idc.signals.Interrupted` (Lightning defers SIGTERM to the end of the epoch)
    and any error after one counts as that stop; between calls the worker ignores them, so that a signal reaching
    an idle worker does not break the pool."""
    if stop_file.exists():
        return i, False, signals.Interrupted(signal.SIGTERM)
    apply_threads(threads)
    worker = os.getpid() != parent and threading.current_thread() is threading.main_thread()
    since = len(signals.RECEIVED)
    if worker:
        signals.interrupt_on_signals()
    try:
        return i, True, fn(*args)
    except BaseException as err:  # noqa: BLE001  (returned, raised by the caller once the others have ended)
        stop = signals.stopped_by_signal(err, since) if worker else signals.as_interrupted(err)
        if stop is not None:
            return i, False, stop
        if not isinstance(err, Exception):
            raise
        return i, False, err
    finally:
        if worker:
            for signum in signals.handled_here():
                signal.signal(signum, signal.SIG_IGN)
