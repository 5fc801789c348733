"""The MLflow pyfunc model of a cell, logged as code ("models from code"): MLflow runs this
file when the model is loaded, so nothing is unpickled. medbench itself never imports it.

``mlflow.pyfunc.load_model(uri).predict({"image": [...]})`` takes, per row, the base64 of an
image file's bytes (what REST clients send), the bytes themselves or a uint8 array, and
returns one row per image: ``label`` and ``confidence`` (the decided class and its
probability; a binary model decides by the positive class's threshold, which it adds as
``threshold``), or for a multi-label model ``labels`` (the list of labels whose sigmoid
probability is at or above their thresholds, ``[]`` for none), then one probability column
per class or label. The task and thresholds are the model's own, read from the
``config.json`` saved with it. A string is never taken for a file name: a served model
opens no file a client names. A local caller who wants files read passes
:class:`pathlib.Path` objects, which no JSON request can carry.

Loading checks the weights against the sha256 recorded in the model's ``config.json``.
"""

from __future__ import annotations

import base64
import binascii
import re
from pathlib import Path

import mlflow
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE
from mlflow.pyfunc import PythonModel

_DATA_URL = re.compile(r"data:[\w.+/-]*;base64,", re.ASCII)


class MedbenchModel(PythonModel):
    def load_context(self, context) -> None:
        from benchmark.serve.predictor import Predictor
        from benchmark.track import verify_weights

        folder = Path(context.artifacts["config"]).parent
        verify_weights(folder, model=f"the MLflow model in {folder.parent}")
        self.predictor = Predictor.load(folder)

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        from benchmark.data import BadImage

        column = model_input["image"] if "image" in model_input else model_input.iloc[:, 0]
        try:
            return self.predictor.predict([_decode(value, i) for i, value in enumerate(column)])
        except BadImage as exc:
            raise MlflowException(str(exc), error_code=INVALID_PARAMETER_VALUE) from None


def _decode(value, position: int = 0):
    """A string is the base64 of an image file's bytes (a ``data:...;base64,`` prefix is
    allowed), never a path; other values pass to the predictor as they are."""
    if not isinstance(value, str):
        return value
    from benchmark.data import BadImage

    text = _DATA_URL.sub("", value.strip(), count=1)
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        shown = value if len(value) <= 40 else value[:37] + "..."
        raise BadImage(
            f"image {position}: expected the base64 of an image file's bytes, but got "
            f"{shown!r}, which is not base64. Send base64.b64encode(open(file, 'rb').read())"
            ".decode() (file names are never read by a served model; in Python, pass a "
            "pathlib.Path to read a local file)."
        ) from None


mlflow.models.set_model(MedbenchModel())
