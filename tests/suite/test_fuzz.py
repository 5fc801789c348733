"""Fuzzed suite files: deleted settings, wrong types, unknown keys, huge numbers, unicode,
YAML tags, anchors and alias bombs, damaged bytes and ``--set`` overrides. Each ends in a
valid suite (and its cells) or a :class:`MedbenchError` saying where, never another
exception or a hang."""

from __future__ import annotations

import contextlib
import copy
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benchmark.errors import MedbenchError
from benchmark.suite import expand_cells, load_suite
from tests.conftest import ROOT, TINY_SUITE

FUZZ = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,  # the same examples on every run: CI is reproducible
    database=None,  # nothing saved between runs either
    suppress_health_check=[HealthCheck.too_slow],
)
BASES = [
    TINY_SUITE,
    *(yaml.safe_load(p.read_text()) for p in sorted((ROOT / "suites").glob("*.yaml"))),
]
_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml's, where PyYAML has it
HANG_S = 20  # a document that takes this long is a hang, not a slow machine

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=24)
    | st.sampled_from(["", "0", "-1", "1e309", "nan", "resnet50", "imagefolder", "${NOPE}"])
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=8,
)
# Raw YAML no mapping of Python values can produce.
SNIPPETS = [
    '!!python/object/apply:os.system ["echo owned"]',
    "!!python/name:os.system",
    "!!python/tuple [1, 2]",
    "!custom {a: 1}",
    "!!binary aGVsbG8=",
    "!!timestamp 2001-12-14t21:59:43.10-05:00",
    "!!set {a, b}",
    "&loop [*loop]",
    "{? [a, b] : 1}",
    "[" * 30000 + "]" * 30000,
    "{a: " * 30000 + "1" + "}" * 30000,
    "9" * 5000,
    "0x" + "f" * 5000,
    "1e999999",
    "'\\U0001F9E0 é 漢字 \u202e'",
    '"\\0 \\x00 nul"',
    "*undefined",
    "{<<: {epochs: 3}, lr: 0.1}",
    "|\n  " + "x" * 5000,
]
BOMB = "".join(
    f"  - &l{k} [{', '.join([f'*l{k - 1}' if k else 'lol'] * 9)}]\n" for k in range(10)
)  # 9^10 values once the aliases are copied out


@contextlib.contextmanager
def _no_hang() -> Iterator[None]:
    def stop(*_: Any) -> None:
        raise AssertionError(f"loading the suite took over {HANG_S} s")

    previous = signal.signal(signal.SIGALRM, stop)
    signal.alarm(HANG_S)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _check(data: bytes, overrides: list[str] | None = None) -> None:
    with tempfile.TemporaryDirectory() as tmp, _no_hang():
        path = Path(tmp) / "suite.yaml"
        path.write_bytes(data)
        try:
            suite = load_suite(path, overrides=overrides or [], env={})
            expand_cells(suite)
        except MedbenchError as exc:
            message = str(exc)
            assert message.strip(), "an error must say what is wrong"
            if "is not a valid suite" in message:  # each problem on a line of its own
                problems = message.splitlines()[1:-1]
                assert problems and all(": " in line for line in problems), message


@st.composite
def mutated(draw) -> dict:
    """A seed suite with a few settings deleted, retyped or added at any depth."""
    suite = copy.deepcopy(draw(st.sampled_from(BASES)))
    for _ in range(draw(st.integers(1, 4))):
        node: Any = suite
        while True:
            keys = list(node) if isinstance(node, dict) else list(range(len(node)))
            if not keys:
                break
            key = draw(st.sampled_from(keys))
            child = node[key]
            if isinstance(child, dict | list) and child and draw(st.booleans()):
                node = child
                continue
            action = draw(st.sampled_from(["delete", "replace", "add"]))
            if action == "delete":
                del node[key]
            elif action == "replace":
                node[key] = draw(values)
            elif isinstance(node, dict):
                node[draw(st.text(min_size=1, max_size=12))] = draw(values)
            else:
                node.append(draw(values))
            break
    return suite


@FUZZ
@given(suite=mutated())
def test_mutated_suites_load_or_say_which_field(suite):
    _check(yaml.dump(suite, Dumper=_DUMPER, allow_unicode=True).encode())


@pytest.mark.parametrize("snippet", SNIPPETS, ids=range(len(SNIPPETS)))
def test_yaml_tags_anchors_and_giant_values_are_refused_or_loaded(snippet):
    for key in ("name", "train", "backbones", "unknown"):  # a string, a mapping, a list, none
        text = yaml.safe_dump({k: v for k, v in TINY_SUITE.items() if k != key})
        _check(f"{text}{key}: {snippet}\n".encode())


def test_an_alias_bomb_is_refused_quickly():
    text = yaml.safe_dump(TINY_SUITE) + "bomb:\n" + BOMB + "train: *l9\n"
    _check(text.encode())


@FUZZ
@given(data=st.binary(max_size=200), cut=st.integers(0, 2000))
def test_damaged_bytes_are_refused_or_loaded(data, cut):
    text = yaml.safe_dump(TINY_SUITE).encode()
    _check(text[:cut] + data + text[cut:])


@FUZZ
@given(
    key=st.sampled_from(
        [
            "train.epochs",
            "train",
            "datasets.phantoms.options.size",
            "backbones.0",
            "backbones.7.name",
            "name.x",
            "tune.space.lr",
            "",
            ".",
            "a..b",
        ]
    )
    | st.text(max_size=20),
    value=st.sampled_from([*SNIPPETS[:9], "1", "-1", "[1", "{a: b}", "null", ""])
    | st.text(max_size=20),
)
def test_set_overrides_are_refused_or_applied(key, value):
    _check(yaml.safe_dump(TINY_SUITE).encode(), overrides=[f"{key}={value}"])
