"""Signals that end a run early (SIGTERM from a scheduler or ``kill``, SLURM's requeue signal SIGUSR1): the run
stops, leaves an ``INTERRUPTED`` marker (which signal, when, the checkpoint it resumes from) and the process exits
with 128 + the signal's number, so that schedulers and scripts never read it as a success. The checkpoint stays:
the same command resumes."""
from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

INTERRUPTED = "INTERRUPTED"


class Interrupted(BaseException):
    """A signal ended the run (a ``BaseException``, like ``KeyboardInterrupt``: no ``except Exception`` takes it
    for a failure)."""

    def __init__(self, signum: int):
        self.signum = int(signum)
        super().__init__(f"received {signal.Signals(self.signum).name}")

    @property
    def exit_code(self) -> int:
        return 128 + self.signum

    def __reduce__(self):  # sent back from a worker process (``model.n_jobs``) by its signal number
        return type(self), (self.signum,)


_DEFERRED: set[int] = set()  # signals that Lightning's loops turn into an exception at a safe point
#: every signal :func:`interrupt_on_signals` has caught in this process, in order (see :func:`stopped_by_signal`)
RECEIVED: list[int] = []


_RAISED: list[int] = []  # the signal this handler has raised since interrupt_on_signals (one stop is enough)


def _raise(signum: int, frame: FrameType | None) -> None:
    RECEIVED.append(int(signum))
    if signum in _DEFERRED:
        return  # Lightning's handler, called just before this one, has noted it
    if _RAISED:
        return  # a second copy (a signal sent to the process group and passed on too) must not break the unwinding
    _RAISED.append(int(signum))
    raise Interrupted(signum)


@contextmanager
def deferred_to_lightning() -> Iterator[int]:
    """While ``Trainer.fit`` runs, SIGTERM is Lightning's: its handler notes the signal and its loops raise
    ``SIGTERMException`` at the end of the step or epoch, after that epoch's metrics reached the loggers, so a
    checkpoint on disk never lies ahead of the logged history (raised at once, the signal could fall between an
    epoch's checkpoint and its metrics and lose that epoch's row). Lightning's handler is only in place from the
    start of training to its teardown: one that comes while ``fit`` sets up or tears down is only noted here, so
    the caller asks :func:`noted_since` with the yielded count (and :class:`idc.callbacks.StopOnEarlySignal`
    at the start of training)."""
    _DEFERRED.add(int(signal.SIGTERM))
    try:
        yield len(RECEIVED)
    finally:
        _DEFERRED.discard(int(signal.SIGTERM))


def noted_since(since: int) -> bool:
    """Whether a SIGTERM was noted after the first ``since`` signals of :data:`RECEIVED`."""
    return int(signal.SIGTERM) in RECEIVED[since:]


def interrupt_on_signals() -> list[int]:
    """From now on SIGTERM (and SIGUSR1 outside SLURM, where Lightning's own requeue handler takes it) raise
    :class:`Interrupted`. Lightning's trainer calls this handler after its own during ``fit``."""
    _RAISED.clear()
    wanted = [signal.SIGTERM]
    if hasattr(signal, "SIGUSR1") and not os.environ.get("SLURM_JOB_ID"):
        wanted.append(signal.SIGUSR1)
    for signum in wanted:
        signal.signal(signum, _raise)
    return [int(s) for s in wanted]


def handled_here() -> list[int]:
    """The signals that :func:`interrupt_on_signals` set this process to raise :class:`Interrupted` on."""
    return [int(s) for s in (signal.SIGTERM, getattr(signal, "SIGUSR1", None)) if s is not None
            and signal.getsignal(s) is _raise]


def stopped_by_signal(error: BaseException, since: int) -> Interrupted | None:
    """``error`` as an :class:`Interrupted` (:func:`as_interrupted`), also any error raised after a signal arrived
    (``len(RECEIVED) > since``): a signal that lands inside an import or a library's ``except Exception`` comes out
    as another error, and is still a stop, not a failure."""
    stop = as_interrupted(error)
    if stop is None and len(RECEIVED) > since:
        stop = Interrupted(RECEIVED[-1])
    return stop


def as_interrupted(error: BaseException) -> Interrupted | None:
    """``error`` as an :class:`Interrupted`, also Lightning's ``SIGTERMException`` (an exit with status 0)."""
    if isinstance(error, Interrupted):
        return error
    if not isinstance(error, SystemExit):  # SIGTERMException is one; Lightning is only imported to tell which
        return None
    try:  # a signal that landed inside Lightning's first import leaves it half-imported
        from pytorch_lightning.utilities.exceptions import SIGTERMException
    except Exception:  # noqa: BLE001
        return None
    return Interrupted(signal.SIGTERM) if isinstance(error, SIGTERMException) else None


def resumes_from(checkpoint: Path) -> str:
    """What the same command resumes from: the checkpoint and its epoch, or none yet (it starts over)."""
    if checkpoint.is_file():
        return f"{checkpoint} (epoch {checkpoint_epoch(checkpoint)})"
    return "none yet (a checkpoint every `checkpoint_every` epochs): the run starts over"


def mark_interrupted(run_dir: Path, error: Interrupted, checkpoint: Path, resumes: str | None = None,
                     replaces: tuple[str, ...] = ()) -> Path:
    """Write ``INTERRUPTED``: the signal, the time and what the same command resumes from (``resumes``, else
    :func:`resumes_from` the checkpoint); the files named in ``replaces`` (a ``FAILED`` that an error after the
    signal left) are removed."""
    for name in replaces:
        (Path(run_dir) / name).unlink(missing_ok=True)
    path = Path(run_dir) / INTERRUPTED
    resumes = resumes or resumes_from(checkpoint)
    path.write_text(f"{error}\nat: {time.strftime('%Y-%m-%d %H:%M:%S %z')}\nresumes from: {resumes}\n")
    return path


def clear_interrupted(run_dir: Path) -> None:
    (Path(run_dir) / INTERRUPTED).unlink(missing_ok=True)


def checkpoint_epoch(path: Path | str | None) -> int | None:
    """The epoch a Lightning checkpoint resumes at (its ``epoch``), read without loading the weights into memory."""
    if not path or not Path(path).is_file():
        return None
    import torch

    ckpt = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    return int(ckpt["epoch"])
