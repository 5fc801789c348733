"""``python -m benchmark`` is ``medbench``."""

from benchmark.cli import app

app(prog_name="medbench")
