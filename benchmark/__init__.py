"""medbench: declarative, reproducible transfer-learning benchmarks for medical imaging."""

__version__ = "0.1.0"
