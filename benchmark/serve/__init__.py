"""Using a trained model: the predictor behind ``medbench predict``, ``explain`` and ``app``
(loaded with its weights checked), the batch pipeline of ``predict``, the MLflow pyfunc model
(``mlflow_model.py``, loaded by MLflow as code) and the web page of ``medbench app``."""

from __future__ import annotations

from benchmark.serve._batch import predict_files, save_png
from benchmark.serve._task import ServedTask
from benchmark.serve.predictor import ImageInput, Predictor, load_predictor

__all__ = [
    "ImageInput",
    "Predictor",
    "ServedTask",
    "load_predictor",
    "predict_files",
    "save_png",
]
