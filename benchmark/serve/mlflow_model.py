"""The MLflow pyfunc model of a cell, logged as code ("models from code"): MLflow runs this
file when the model is loaded, so nothing is unpickled. medbench itself never imports it.

``mlflow.pyfunc.load_model(uri).predict({"image": [...]})`` takes image file paths, file
bytes or uint8 arrays (over REST: base64 strings of the files' bytes) and returns
``label``, ``confidence`` and one probability column per class.
"""

from __future__ import annotations

import base64
import binascii
from pathlib import Path

import mlflow
import pandas as pd
from mlflow.pyfunc import PythonModel


class MedbenchModel(PythonModel):
    def load_context(self, context) -> None:
        from benchmark.serve.predictor import Predictor

        self.predictor = Predictor.load(Path(context.artifacts["config"]).parent)

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        column = model_input["image"] if "image" in model_input else model_input.iloc[:, 0]
        return self.predictor.predict([_decode(value) for value in column])


def _decode(value):
    """A string is the base64 of an image file when it is long and names no file (the
    smallest image files take over 64 characters), else a path."""
    if isinstance(value, str) and len(value) > 64 and not _is_file(value):
        try:
            return base64.b64decode(value, validate=True)
        except binascii.Error:
            pass  # the predictor says the file does not exist
    return value


def _is_file(value: str) -> bool:
    try:
        return Path(value).is_file()
    except OSError:  # a name too long for a path
        return False


mlflow.models.set_model(MedbenchModel())
