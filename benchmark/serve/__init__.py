"""Using a trained model: the predictor behind ``medbench predict``, the MLflow pyfunc model
(``mlflow_model.py``, loaded by MLflow as code) and the web page of ``medbench app``."""

from __future__ import annotations

from benchmark.serve.predictor import ImageInput, Predictor

__all__ = ["ImageInput", "Predictor"]
