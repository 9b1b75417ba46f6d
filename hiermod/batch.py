"""Many independent fits on ``dask.distributed``: power analysis, calibration, resampling.

:func:`run_batch` maps a function over tasks on a Dask cluster — a ``LocalCluster`` started
for the call by default, or any ``Client`` / scheduler address — and gathers what each task
returned into a :class:`Batch` (a DataFrame with one row per task). What runs where:

* the calling process makes the tasks (small, picklable: a design or a frame, parameters, a
  seed each) and gathers the results;
* each worker process runs tasks in chunks; before its first task it is set up once
  (:class:`WorkerSetup`): its own PyTensor compile directory (a compile directory shared by
  processes can corrupt, pymc#7819), single-threaded BLAS (the cluster's processes are the
  parallelism), and optionally a warm numba cache (hiermod's compiled kernels loaded, so the
  first fit of each worker does not pay for it);
* a task that raises is recorded (task, error type, message) and the batch goes on; so is a
  worker that dies (its chunk's tasks are recorded as failed).

Every task carries its own seed, derived from one ``random_seed`` by
``numpy.random.SeedSequence.spawn``, so results do not depend on the number of workers, the
chunking or the order in which tasks finish.
"""

from __future__ import annotations

import math
import os
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .design import make_design
from .errors import SpecError
from .formula import parse_formula
from .plan import make_plan

try:  # the 'dask' extra; without it run_batch says what to install
    from distributed import WorkerPlugin
except ImportError:  # pragma: no cover
    WorkerPlugin = object

#: seconds between progress lines when the output is not a terminal
PROGRESS_EVERY = 10.0


@dataclass(frozen=True)
class Failure:
    """A task that raised: its number, the exception's type and message."""

    task: int
    error: str
    message: str


@dataclass(frozen=True, eq=False)
class Batch:
    """The results of :func:`run_batch`: ``results[i]`` is task i's return value (None if it
    failed), ``failures`` the tasks that raised, ``seconds`` the wall time."""

    results: list
    failures: tuple[Failure, ...]
    seconds: float
    n_workers: int

    @property
    def n_failed(self) -> int:
        return len(self.failures)

    def failure_table(self) -> pd.DataFrame:
        return pd.DataFrame([vars(f) for f in self.failures], columns=["task", "error", "message"])

    def to_frame(self) -> pd.DataFrame:
        """One row per task that succeeded (a task returns a dict or a Series), indexed by task."""
        rows = {i: r for i, r in enumerate(self.results) if r is not None}
        return pd.DataFrame.from_dict(rows, orient="index").rename_axis("task")


class WorkerSetup(WorkerPlugin):
    """Per-process set-up of a worker, once, before its first task (a distributed
    WorkerPlugin): its own PyTensor compile directory, single-threaded BLAS, and with
    ``warm=True`` hiermod's compiled kernels loaded from numba's cache."""

    name = "hiermod-setup"
    idempotent = True

    def __init__(self, warm: bool = False) -> None:
        self.warm = warm

    def setup(self, worker=None) -> None:
        prepare_process()
        if self.warm:
            warm_kernels()


def prepare_process() -> None:
    """A PyTensor compile directory of this process's own (before PyTensor is imported; a
    shared one is not safe across processes, pymc#7819) and single-threaded BLAS."""
    if "pytensor" not in sys.modules:
        base = os.path.join(tempfile.gettempdir(), f"hiermod-pytensor-{os.getpid()}")
        flags = os.environ.get("PYTENSOR_FLAGS", "")
        if "base_compiledir" not in flags:
            os.environ["PYTENSOR_FLAGS"] = ",".join(
                f for f in (flags, f"base_compiledir={base}") if f)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - a dependency of hiermod
        return
    threadpool_limits(1)


def warm_kernels() -> None:
    """Load hiermod's numba kernels (marginal, several factors, cells) from the disk cache by
    evaluating each once on a tiny model."""
    rng = np.random.default_rng(0)
    g = np.repeat(np.arange(4), 5)
    h = np.tile(np.arange(5), 4)
    frame = pd.DataFrame({"y": rng.normal(size=20) + g, "x": rng.normal(size=20), "g": g,
                          "h": h, "b": rng.integers(0, 2, 20)})
    for formula, family in (("y ~ x + (1 + x | g)", "gaussian"),
                            ("y ~ x + (1 | g) + (1 | h)", "gaussian"),
                            ("b ~ x + (1 | g)", "bernoulli")):
        design = make_design(parse_formula(formula, family=family), frame)
        plan = make_plan(design, None, "auto", None, "nutpie")
        plan.compiled.logp_and_grad(np.zeros(plan.compiled.n_dim))


def task_seeds(random_seed, n: int) -> list[int]:
    """One seed per task (32-bit, for every sampler), independent of how tasks are run."""
    return [int(s.generate_state(1)[0]) for s in np.random.SeedSequence(random_seed).spawn(n)]


def run_chunk(fn, tasks: list, first: int) -> list:
    """Run tasks one after another; a task that raises gives a :class:`Failure`."""
    prepare_process()
    out = []
    for i, task in enumerate(tasks):
        try:
            out.append(fn(task))
        except Exception as exc:  # noqa: BLE001 - recorded, the batch goes on
            last = traceback.extract_tb(exc.__traceback__)[-1:]
            where = f" ({last[0].filename}:{last[0].lineno})" if last else ""
            out.append(Failure(first + i, type(exc).__name__, f"{exc}{where}"))
    return out


def _client(client, n_workers: int | None):
    """(a distributed Client, whether this call started it)."""
    try:
        from distributed import Client, LocalCluster
    except ImportError as exc:  # pragma: no cover - in the 'dask' extra
        raise SpecError("many fits run on dask.distributed: pip install 'hiermod[dask]'") from exc
    if client is None:
        workers = n_workers or max(1, min(os.cpu_count() or 1, 8))
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                               dashboard_address=":0", host="127.0.0.1")  # any free port
        return Client(cluster), True
    if isinstance(client, str):
        return Client(client), True
    if isinstance(client, Client):
        return client, False
    raise SpecError(f"client must be a distributed.Client, a scheduler address such as "
                    f"'tcp://10.0.0.5:8786', or None (a LocalCluster), got {type(client).__name__}")


class Progress:
    """``label: done/total (failed) elapsed`` on one line (a terminal) or every 10 s."""

    def __init__(self, label: str, total: int, show: bool) -> None:
        self.label, self.total, self.show = label, total, show
        self.t0 = self.last = time.perf_counter()
        self.tty = sys.stderr.isatty()

    def update(self, done: int, failed: int, final: bool = False) -> None:
        if not self.show:
            return
        now = time.perf_counter()
        if not (final or self.tty or now - self.last >= PROGRESS_EVERY):
            return
        self.last = now
        text = (f"{self.label}: {done}/{self.total} done"
                + (f", {failed} failed" if failed else "") + f" ({now - self.t0:.0f} s)")
        end = "\n" if final or not self.tty else ""
        print(("\r" if self.tty else "") + text, end=end, file=sys.stderr, flush=True)


def run_batch(fn, tasks: list, client=None, *, n_workers: int | None = None,
              chunk_size: int | None = None, progress: bool | None = None,
              label: str = "batch", warm: bool = False) -> Batch:
    """Run ``fn(task)`` for every task on a Dask cluster and gather the results.

    Parameters
    ----------
    fn : callable
        A module-level function (picklable) of one task, returning a dict (one row of
        :meth:`Batch.to_frame`) or any object.
    tasks : list
        Picklable tasks.
    client : distributed.Client or str, optional
        A running Client, or a scheduler address ('tcp://host:8786'); by default a
        ``LocalCluster`` of ``n_workers`` single-threaded processes is started on this
        machine (loopback only) and closed at the end.
    n_workers : int, optional
        Workers of the LocalCluster (default: the CPUs, at most 8).
    chunk_size : int, optional
        Tasks per scheduled job (default: about 8 jobs per worker, so that short fits do
        not pay the scheduler's overhead one by one).
    progress : bool, optional
        Show progress (default: when the output is a terminal).
    label : str
        Name on the progress line.
    warm : bool
        Load hiermod's compiled kernels on every worker before its first task.

    Returns
    -------
    Batch
    """
    if not tasks:
        return Batch([], (), 0.0, 0)
    t0 = time.perf_counter()
    cl, own = _client(client, n_workers)
    try:
        from distributed import as_completed

        cl.register_plugin(WorkerSetup(warm), name=WorkerSetup.name)
        workers = max(1, len(cl.scheduler_info().get("workers", {})))
        size = chunk_size or max(1, math.ceil(len(tasks) / (8 * workers)))
        starts = list(range(0, len(tasks), size))
        futures = {cl.submit(run_chunk, fn, tasks[s:s + size], s, pure=False): s
                   for s in starts}
        results: list = [None] * len(tasks)
        failures: list[Failure] = []
        bar = Progress(label, len(tasks), sys.stderr.isatty() if progress is None else progress)
        done = 0
        for fut in as_completed(futures):
            s = futures[fut]
            n = len(tasks[s:s + size])
            if fut.status == "error":
                exc = fut.exception()
                failures += [Failure(s + i, type(exc).__name__, str(exc)) for i in range(n)]
            else:
                for i, r in enumerate(fut.result()):
                    if isinstance(r, Failure):
                        failures.append(r)
                    else:
                        results[s + i] = r
            done += n
            bar.update(done, len(failures))
        bar.update(done, len(failures), final=True)
    finally:
        if own:
            cluster = getattr(cl, "cluster", None)
            cl.close()
            if cluster is not None:
                cluster.close()
    failures.sort(key=lambda f: f.task)
    return Batch(results, tuple(failures), time.perf_counter() - t0, workers)
