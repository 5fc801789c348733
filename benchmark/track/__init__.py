"""The only importer of MLflow (besides ``serve/mlflow_model.py``, MLflow's own model class):
callers open the store with :func:`connect` and read and write through the :class:`Store` it
returns, never through MLflow's client.

Layout (a contract, see the architecture notes): one experiment per suite; one run per
cell named ``dataset/backbone/strategy`` with ``medbench.*`` tags; per-epoch metrics at
their step; ``test/*`` metrics and artifacts on the cell run; the cell's model as a pyfunc
model named ``model`` of that run; analyses across cells on the suite's ``summary`` run.

Inside: where the store is and how it is opened (``_connection``), the layout's names
(``_keys``), queries (``_queries``), runs and their logging (``_logging``), models and the
registry (``_models``), the face that joins them (``_store``).
"""

from __future__ import annotations

from benchmark.track._keys import EXPERIMENT_KIND, SHA_TAG, TAG, metric_column, tag_column
from benchmark.track._logging import RunLog, flatten
from benchmark.track._models import ModelSource, verify_weights, weights_sha256
from benchmark.track._store import Store, connect, runs_url, ui_command

__all__ = [
    "EXPERIMENT_KIND",
    "SHA_TAG",
    "TAG",
    "ModelSource",
    "RunLog",
    "Store",
    "connect",
    "flatten",
    "metric_column",
    "runs_url",
    "tag_column",
    "ui_command",
    "verify_weights",
    "weights_sha256",
]
