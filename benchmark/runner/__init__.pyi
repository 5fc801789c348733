"""What the package exports: read by the type checker, and by ``lazy.attach_stub`` in
``__init__.py`` to load each name from its module on first use."""

from ._context import CellOutcome as CellOutcome
from ._context import Reporter as Reporter
from ._data import Dataset as Dataset
from ._devices import Slot as Slot
from ._devices import plan_slots as plan_slots
from ._launch import Display as Display
from ._launch import launch as launch
from ._preflight import Check as Check
from ._preflight import PreflightError as PreflightError
from ._preflight import check_ready as check_ready
from ._preflight import preflight as preflight
from ._run import run_suite as run_suite
from ._run import summarise as summarise
from ._status import CellStatus as CellStatus
from ._status import Snapshot as Snapshot
from ._status import WorkerStatus as WorkerStatus
from ._status import snapshot as snapshot
from ._worker import Session as Session
from ._worker import prepare as prepare
from ._worker import work as work
