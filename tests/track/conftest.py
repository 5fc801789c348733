"""A fresh store per test (a copy of the session's migrated template) and one suite's
experiment in it."""

from __future__ import annotations

import pytest

from benchmark import track


@pytest.fixture
def store(tracking_uri) -> track.Store:
    return track.connect(tracking_uri, write=True)


@pytest.fixture
def experiment(store) -> str:
    return store.ensure_experiment("suite")
