"""A worker: claims the suite's cells one at a time from its board, and when none is left to
claim, runs queued trials of cells other workers are tuning, until every cell has ended.

Any number of workers, on any machines that share the two stores, may run one suite: the
claims go through the Optuna storage (see :mod:`benchmark.tune`), results to MLflow. A
worker that dies leaves its claims RUNNING; the others fail them (and end its MLflow runs
as FAILED) and queue its cell or trial again, to be continued from the last checkpoint.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

from benchmark import track, tune
from benchmark._process import set_worker
from benchmark.checks import check_suite
from benchmark.devices import resolve_device, use_device
from benchmark.runner._cell import run_cell
from benchmark.runner._context import CellOutcome, Context, Reporter
from benchmark.runner._data import Dataset, images_for, prepare_dataset
from benchmark.runner._devices import nvml_index
from benchmark.runner._episodes import check_cells
from benchmark.runner._preflight import check_ready, preflight
from benchmark.runner._study import end_dead_runs, study_spec, trial_objective
from benchmark.settings import check_settings, checkpoint_root, writable_folder
from benchmark.suite import Cell, Suite, expand_cells

__all__ = ["Session", "outcomes_from_board", "prepare", "work"]

POLL_S = 1.0


@dataclass
class Session:
    """Both stores, checked and open, and the suite's cells."""

    suite: Suite
    cells: list[Cell]
    store: track.Store
    storage: str  # resolved
    experiment_id: str | None = None

    def context(self, device, reporter: Reporter) -> Context:
        return Context(
            self.store,
            self.open_experiment(),
            self.storage,
            device,
            reporter,
            checkpoint_root(self.store.tracking_uri),
        )

    def open_experiment(self) -> str:
        """The suite's experiment (created once); runs left by dead workers end as FAILED."""
        if self.experiment_id is None:
            self.experiment_id = self.store.ensure_experiment(self.suite.name)
            self.store.mark_dead_runs_failed(self.experiment_id)
            _reap(self)
        return self.experiment_id

    def post(self, *, resume: bool = True) -> int:
        """Queue the suite's cells on its board (those not queued or running already)."""
        cells = [(cell.config_hash, cell.name) for cell in self.cells]
        return tune.post_cells(self.storage, self.suite.name, cells=cells, resume=resume)


def prepare(
    suite: Suite,
    *,
    tracking_uri: str | None = None,
    storage: str | None = None,
    check: bool = True,
) -> Session:
    """Check the suite's names and, with ``check``, everything it needs (its data, its
    backbones' weights, the folders it writes: one :class:`PreflightError` naming every
    problem, before any store is opened); then open both stores and the checkpoint folder,
    within seconds when one cannot be reached or written."""
    check_settings()
    suite = check_suite(suite, source=f"suite '{suite.name}'")
    if check:
        checks = preflight(suite, tracking=tracking_uri, storage=storage)
        check_ready(checks, suite=suite.name)
    storage = tune.check_storage(storage)
    store = track.connect(tracking_uri, write=True)
    checkpoints = checkpoint_root(store.tracking_uri)
    if checkpoints is not None:
        writable_folder(checkpoints, what="the checkpoint folder (MEDBENCH_CHECKPOINTS)")
    return Session(suite, expand_cells(suite), store, storage)


def work(
    session: Session,
    *,
    device: str = "auto",
    device_name: str | None = None,
    reporter: Reporter | None = None,
    post: bool = True,
    resume: bool = True,
) -> list[CellOutcome]:
    """Index the suite's data (bad data fails here, before any run is created), queue its
    cells (``post``; a launcher that started this worker did it already), then claim and run
    cells and help with trials until every cell has ended. One outcome per cell, in grid
    order (cells run by other workers too). ``device_name`` is the device as the machine
    names it, recorded on the runs (a launched worker's ``cuda:0`` is the machine's
    ``cuda:2``)."""
    reporter = reporter or Reporter()
    torch_device = resolve_device(device)
    use_device(torch_device)  # CUDA's defaults (streams, events, caches) on this worker's GPU
    set_worker(device=device_name or str(torch_device), nvml=nvml_index(torch_device))
    data = _Datasets(session.suite, reporter)
    data.index(sorted({cell.dataset for cell in session.cells}
                      | {name for cell in session.cells for name in cell.external}))  # fmt: skip
    check_cells(session.cells, data.get)
    context = session.context(torch_device, reporter)
    if post:
        session.post(resume=resume)
    cells = {cell.config_hash: cell for cell in session.cells}
    outcomes: dict[str, CellOutcome] = {}
    waiting_for: set[str] = set()
    while True:
        _reap(session)
        claim = tune.claim_cell(session.storage, session.suite.name, keys=list(cells))
        if claim is not None:
            cell = cells[claim.entry.key]
            outcomes[cell.config_hash] = _run_claimed(claim, cell, session, data, context)
            continue
        latest = _latest(tune.board_entries(session.storage, session.suite.name), cells)
        running = [entry for entry in latest.values() if entry.state == "RUNNING"]
        if any(_help(entry, cells[entry.key], data, context) for entry in running):
            continue
        if not any(entry.state in ("WAITING", "RUNNING") for entry in latest.values()):
            break
        names = {entry.name for entry in running}
        if names and names != waiting_for:
            owners = ", ".join(_owner(entry) for entry in running)
            reporter.waiting(f"waiting for cells other workers run: {owners}")
            waiting_for = names
        time.sleep(POLL_S)
    return [outcomes.get(cell.config_hash) or _elsewhere(cell, latest, session) for cell in
            session.cells]  # fmt: skip


class _Datasets:
    """The suite's datasets, indexed once per worker."""

    def __init__(self, suite: Suite, reporter: Reporter) -> None:
        self.suite, self.reporter = suite, reporter
        self.done: dict[str, Dataset] = {}

    def index(self, names: list[str]) -> None:
        for name in names:
            self.get(name)

    def get(self, name: str) -> Dataset:
        if name not in self.done:
            from benchmark.data import default_cache

            self.done[name] = prepare_dataset(
                name,
                self.suite.datasets[name],
                seed=self.suite.seed,
                policy=self.suite.audit,
                reporter=self.reporter,
                cache=default_cache(),
            )
        return self.done[name]


class _Noting(Reporter):
    """Passes progress on to the display and notes it on the claim (``medbench status`` and
    the launcher read it there)."""

    def __init__(self, inner: Reporter, claim: tune.CellClaim) -> None:
        self.inner, self.claim = inner, claim

    def loading(self, what: str, *, done: int, total: int) -> None:
        self.inner.loading(what, done=done, total=total)

    def warning(self, message: str) -> None:
        self.inner.warning(message)

    def waiting(self, message: str) -> None:
        self.inner.waiting(message)

    def phase(self, description: str, epochs: int) -> None:
        self.claim.note(phase=description, epoch=0, epochs=epochs)
        self.inner.phase(description, epochs)

    def batch_done(self, step: int, total: int) -> None:
        self.inner.batch_done(step, total)

    def epoch_done(self, epoch: int, metrics: dict[str, float]) -> None:
        score = metrics.get("val/f1_weighted", metrics.get("train/loss"))
        self.claim.note(epoch=epoch, score=score)
        self.inner.epoch_done(epoch, metrics)


def _run_claimed(
    claim: tune.CellClaim, cell: Cell, session: Session, data: _Datasets, context: Context
) -> CellOutcome:
    index = session.cells.index(cell) + 1
    with claim.beating():
        done = (
            session.store.finished_cell(context.experiment_id, cell.config_hash)
            if claim.resume
            else None
        )
        if done is not None:
            claim.release("skipped", run_id=done)
            outcome = CellOutcome(cell, "skipped", run_id=done)
            context.reporter.cell_started(cell, index=index, total=len(session.cells))
            context.reporter.cell_done(outcome)
            return outcome
        context.reporter.cell_started(cell, index=index, total=len(session.cells))
        noting = dataclasses.replace(context, reporter=_Noting(context.reporter, claim))
        try:
            outcome = run_cell(
                cell, data.get(cell.dataset), context=noting, claim=claim, datasets=data.get
            )
        except BaseException:
            claim.release("interrupted")
            raise
        claim.release(outcome.status, run_id=outcome.run_id or "", error=outcome.error or "")
    context.reporter.cell_done(outcome)
    return outcome


def _help(entry: tune.CellEntry, cell: Cell, data: _Datasets, context: Context) -> bool:
    """Run one queued trial of a cell another worker is tuning; False if none is queued."""
    study, run_id = entry.attrs.get("study"), entry.attrs.get("run_id")
    if cell.tune is None or not study or not run_id:
        return False
    dataset = data.get(cell.dataset)
    images = images_for(cell, dataset, reporter=context.reporter)
    try:
        return tune.help_study(
            study_spec(cell, context),
            objective=trial_objective(
                cell, dataset, images=images, context=context, parent_run_id=run_id
            ),
            on_dead=lambda dead: end_dead_runs(dead, context),
        )
    finally:
        context.embeddings.clear()  # the helped cell's features are its own worker's to keep


def _reap(session: Session) -> None:
    """Claims whose worker died are queued again; their MLflow runs end as FAILED."""
    dead = tune.reap_cells(session.storage, session.suite.name)
    session.store.fail_runs([e.attrs["run_id"] for e in dead if e.attrs.get("run_id")])


def _latest(entries: list[tune.CellEntry], cells: dict[str, Cell]) -> dict[str, tune.CellEntry]:
    """The newest claim (not a duplicate) of each of ``cells``."""
    latest = {}
    for entry in entries:
        if entry.key in cells and not entry.duplicate:
            latest[entry.key] = entry
    return latest


def _owner(entry: tune.CellEntry) -> str:
    a = entry.attrs
    return f"{entry.name} ({a.get('worker') or 'pid ' + str(a.get('pid'))} on {a.get('host')})"


def _elsewhere(cell: Cell, latest: dict[str, tune.CellEntry], session: Session) -> CellOutcome:
    """The outcome of a cell this worker did not run, from the stores."""
    done = session.store.finished_cell(session.open_experiment(), cell.config_hash)
    if done is not None:
        return CellOutcome(cell, "skipped", run_id=done)
    entry = latest.get(cell.config_hash)
    error = (entry.attrs.get("error") if entry else None) or "failed in another worker"
    return CellOutcome(cell, "failed", run_id=entry.attrs.get("run_id") if entry else None,
                       error=error)  # fmt: skip


def outcomes_from_board(session: Session) -> list[CellOutcome]:
    """Every cell's outcome as the stores record it (after a launch), in grid order."""
    cells = {cell.config_hash: cell for cell in session.cells}
    latest = _latest(tune.board_entries(session.storage, session.suite.name), cells)
    outcomes = []
    for cell in session.cells:
        entry = latest.get(cell.config_hash)
        if entry is not None and entry.state == "COMPLETE" and entry.attrs.get("run_id"):
            run_id = entry.attrs["run_id"]
            status = entry.attrs.get("outcome", "finished")
            metrics = session.store.run_metrics(run_id) if status == "finished" else {}
            outcomes.append(CellOutcome(cell, status, run_id=run_id, metrics=metrics))
        else:
            outcomes.append(_elsewhere(cell, latest, session))
    return outcomes
