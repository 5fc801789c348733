"""Promotion: each dataset's best finished cell into the MLflow Model Registry.

``_choose`` ranks a dataset's cells (the metric, then the narrower interval, then the lower
latency; failed and unfinished runs refused with the reason), ``_card`` says what a
registered version records (name, tags, model card), ``_workflow`` runs a promotion against
the store and returns each dataset's outcome for the command to show.
"""

from __future__ import annotations

from benchmark.promote._card import model_card, model_name, version_tags
from benchmark.promote._choose import Choice, choose_champions
from benchmark.promote._workflow import Promotion, promote

__all__ = [
    "Choice",
    "Promotion",
    "choose_champions",
    "model_card",
    "model_name",
    "promote",
    "version_tags",
]
