"""This process's stamp and the stretches a stop must not cut in two."""

from __future__ import annotations

import signal

import pytest

from benchmark._process import shielded


def test_a_stop_inside_a_shielded_stretch_waits_for_its_end():
    """Ctrl-C while a run is being created or ended is delivered once that is done, to the
    handler that was there before."""
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        done = []
        with pytest.raises(KeyboardInterrupt), shielded():
            signal.raise_signal(signal.SIGINT)
            done.append("after the signal")  # still runs: the stop waits
        assert done == ["after the signal"]
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGINT, before)
