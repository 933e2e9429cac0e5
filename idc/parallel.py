"""Independent runs at once in joblib's worker processes (``model.n_jobs``, ``IDC(n_jobs=...)``): always the loky
process backend, never threads (torch's seeds and thread count and the loggers are per process, and joblib picks
threads for a pool started inside another one's worker), the cores split between the workers."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

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
    ``done(i, result)`` as each finishes. A failing call does not stop the others: once all have ended, the first
    failure (in call order) is raised."""
    from joblib import Parallel, delayed

    results: list[Any] = [None] * len(calls)
    failures: dict[int, BaseException] = {}
    outcomes = Parallel(n_jobs=jobs, backend="loky", return_as="generator_unordered")(
        delayed(_call)(i, fn, args, threads) for i, args in enumerate(calls))
    for i, ok, value in outcomes:
        if ok:
            results[i] = value
            if done is not None:
                done(i, value)
        else:
            failures[i] = value
    if failures:
        raise failures[min(failures)]
    return results


def _call(i: int, fn: Callable[..., Any], args: tuple, threads: int) -> tuple[int, bool, Any]:
    """One call in a worker: ``(i, True, result)`` or ``(i, False, the exception)``."""
    apply_threads(threads)
    try:
        return i, True, fn(*args)
    except Exception as err:  # noqa: BLE001  (returned, raised by the caller once the others have ended)
        return i, False, err
