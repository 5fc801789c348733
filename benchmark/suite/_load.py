"""Reading a suite file: YAML, ``--set`` overrides, ``${VAR}`` expansion, readable errors."""

from __future__ import annotations

import copy
import os
import re
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from benchmark.errors import SuiteError, suggest
from benchmark.suite._schema import Names, _model_in
from benchmark.suite._suite import Suite

MAX_FLOW_DEPTH = 64
"""``[`` and ``{`` nested deeper than this are refused while scanning: PyYAML's scanner
takes time quadratic in that depth (30,000 brackets, 60 kB, would take most of an hour)."""
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
MAX_VALUES = 100_000
"""A suite is a few hundred values; one that expands to more through YAML aliases is refused
(a "billion laughs" document of ~300 bytes expands to hundreds of millions)."""


def load_suite(
    path: str | Path,
    *,
    overrides: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    names: Names | None = None,
) -> Suite:
    """Read, override (``train.epochs=3``), expand ``${VAR}`` and validate a suite file;
    with ``names`` (``benchmark.checks``), its registry names too, in the same pass."""
    path = Path(path)
    if not path.is_file():
        raise SuiteError(f"suite file {path} does not exist.")
    raw = _read_yaml(path)
    if not isinstance(raw, dict):
        raise SuiteError(
            f"{path} must hold a mapping of suite settings, but got {type(raw).__name__}."
        )
    for item in overrides:
        _apply_override(raw, item)
    raw = _expand(raw, os.environ if env is None else env, ())
    try:
        context = {"base_dir": path.parent.resolve(), "names": names}
        return Suite.model_validate(raw, context=context)
    except ValidationError as exc:
        raise SuiteError(format_validation_error(exc, source=str(path))) from None


def _read_yaml(path: Path) -> Any:
    """The document of the suite file ``path`` (see :func:`_parse_yaml`)."""
    try:
        data = path.read_bytes()  # YAML finds the encoding (UTF-8, or UTF-16 with a BOM)
    except OSError as exc:
        raise SuiteError(f"cannot read the suite file {path}: {exc.strerror or exc}.") from None
    return _parse_yaml(data, source=str(path))


def _parse_yaml(data: bytes | str, *, source: str) -> Any:
    """``yaml.safe_load``, after checking on the parsed node graph (where an alias is one
    shared node) that the document does not expand to more than :data:`MAX_VALUES` values;
    every failure is a :class:`SuiteError` naming ``source``."""
    loader = None
    try:
        loader = _Loader(data)
        node = loader.get_single_node()
        if node is None:
            return None
        size = _expanded_size(node, {})
        if size > MAX_VALUES:
            raise SuiteError(
                f"{source} expands to {size:,} values through YAML anchors and aliases (the limit "
                f"is {MAX_VALUES:,}): refused as a possible alias bomb. Write the values out, or "
                "use fewer nested aliases."
            )
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        raise SuiteError(f"{source} is not valid YAML: {exc}") from None
    except RecursionError:  # deep nesting, or an alias inside itself
        raise SuiteError(f"{source} nests its values too deeply to be a suite.") from None
    except ValueError as exc:  # a number of more than 4,300 digits, say
        raise SuiteError(
            f"{source} holds a value that cannot be read: {exc}. A suite's numbers are short: "
            "write them out in a few digits (1.0e-4, 100000)."
        ) from None
    finally:
        if loader is not None:
            loader.dispose()


class _Loader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that stops at :data:`MAX_FLOW_DEPTH` nested flow collections."""

    def fetch_flow_collection_start(self, TokenClass) -> None:  # PyYAML names it so
        if self.flow_level >= MAX_FLOW_DEPTH:
            raise yaml.scanner.ScannerError(
                None, None, f"more than {MAX_FLOW_DEPTH} nested [ ] or {{ }}", self.get_mark()
            )
        super().fetch_flow_collection_start(TokenClass)


def _expanded_size(node: yaml.Node, sizes: dict[int, int]) -> int:
    """How many values ``node`` stands for once every alias is copied out (memoised per
    shared node, so this takes time linear in the document, not in its expansion)."""
    known = sizes.get(id(node))
    if known is not None:
        return known
    size = 1
    if isinstance(node, yaml.SequenceNode):
        size += sum(_expanded_size(child, sizes) for child in node.value)
    elif isinstance(node, yaml.MappingNode):
        size += sum(_expanded_size(k, sizes) + _expanded_size(v, sizes) for k, v in node.value)
    sizes[id(node)] = size
    return size


def _expand(value: Any, env: Mapping[str, str], where: tuple, done: dict | None = None) -> Any:
    """``${VAR}`` expanded in every string; a node shared through a YAML alias is expanded
    once and stays shared (never copied per alias)."""
    done = {} if done is None else done
    if isinstance(value, dict | list):
        key = id(value)
        if key not in done:
            if isinstance(value, dict):
                done[key] = {k: _expand(v, env, (*where, k), done) for k, v in value.items()}
            else:
                done[key] = [_expand(v, env, (*where, i), done) for i, v in enumerate(value)]
        return done[key]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match) -> str:
        name, default = match.group(1), match.group(2)
        if name in env:
            return env[name]
        if default is not None:
            return default
        raise SuiteError(
            f"{_dotted(where)}: environment variable {name} is not set. Set it, or give a "
            f"default in the suite: ${{{name}:-value}}."
        )

    return _VAR.sub(substitute, value)


def _apply_override(raw: dict[str, Any], item: str) -> None:
    """``KEY=VALUE``: the value (YAML) set at the dotted key; a ``*`` part stands for every
    key of a mapping (every item of a list) there, e.g. ``datasets.*.options.size=64``."""
    key, sep, text = item.partition("=")
    if not sep or not key.strip():
        raise SuiteError(f"--set expects KEY=VALUE (e.g. train.epochs=3), but got {item!r}.")
    value = _parse_yaml(text, source=f"--set {item!r}: the value")
    _set_at(raw, key.strip().split("."), 0, value, item)


def _set_at(node: Any, parts: list[str], depth: int, value: Any, item: str) -> None:
    """Set ``value`` at ``parts[depth:]`` below ``node`` (``parts[:depth]`` led there)."""
    part, last = parts[depth], depth == len(parts) - 1
    where = ".".join(parts[:depth])
    if part == "*":
        if not isinstance(node, dict | list):
            raise SuiteError(f"--set {item!r}: {where} is not a mapping or a list.")
        children = list(node) if isinstance(node, dict) else range(len(node))
        if not children:
            raise SuiteError(f"--set {item!r}: {where or '(top level)'} is empty: `*` matches "
                             "nothing there.")  # fmt: skip
        for child in children:
            _set_at(node, [*parts[:depth], str(child), *parts[depth + 1 :]], depth, value, item)
        return
    if isinstance(node, list):
        if not part.isdigit() or int(part) >= len(node):
            raise SuiteError(f"--set {item!r}: {where} has no item {part}.")
        if last:
            node[int(part)] = copy.deepcopy(value)
        else:
            _set_at(node[int(part)], parts, depth + 1, value, item)
    elif isinstance(node, dict):
        if last:
            node[part] = copy.deepcopy(value)  # each place its own value, never shared
        else:
            if not isinstance(node.get(part), dict | list):
                node[part] = {} if node.get(part) is None else node[part]
            _set_at(node[part], parts, depth + 1, value, item)
    else:
        raise SuiteError(f"--set {item!r}: {where} is not a mapping.")


def _dotted(loc: Sequence[Any]) -> str:
    """``train.epochs``; a key that is not a plain word is quoted (``datasets.' '``), so an
    empty, blank or dotted key can still be seen in the message."""
    return ".".join(_part(p) for p in loc) or "(top level)"


def _part(part: Any) -> str:
    text = str(part)
    return text if re.fullmatch(r"[\w-]+", text) else repr(text)


def format_validation_error(exc: ValidationError, *, source: str) -> str:
    """Readable lines: field path, problem, value found, and the allowed fields for typos."""
    lines = []
    for err in exc.errors():
        loc = [p for p in err["loc"] if not _is_union_tag(p)]
        if err["type"] == "extra_forbidden":  # the last part is the key found, whatever it reads
            loc = [p for p in err["loc"][:-1] if not _is_union_tag(p)] + [err["loc"][-1]]
        where = _dotted(loc)
        msg = err["msg"].removeprefix("Value error, ")
        found = "" if err["type"] == "missing" else f" (found {_short(err.get('input'))})"
        if err["type"] == "extra_forbidden":
            allowed = _fields_at(loc[:-1])
            msg = "unknown setting"
            if allowed:
                msg += f"; expected one of {allowed}." + suggest(str(loc[-1]), allowed)
        elif err["type"] == "missing":
            msg = "required setting is missing"
        lines.append(f"  {where}: {msg}{found}")
    count = len(lines)
    head = f"{source} is not a valid suite ({count} problem{'s' if count > 1 else ''}):"
    return "\n".join([head, *lines, "Nothing was run. Fix the file and try again."])


def _is_union_tag(part: Any) -> bool:
    """pydantic adds union member names (``str``, ``dict[str,any]``) to error locations."""
    return isinstance(part, str) and (
        part in {"str", "int", "float", "bool"} or part.startswith(("list[", "dict["))
    )


def _fields_at(loc: Sequence[Any]) -> list[str]:
    """Field names of the model found at ``loc`` inside a suite (empty when not a model)."""
    annotation: Any = Suite
    for part in loc:
        model = _model_in(annotation)
        if model is not None and isinstance(part, str) and part in model.model_fields:
            annotation = model.model_fields[part].annotation
            continue
        args = typing.get_args(annotation)
        origin = typing.get_origin(annotation)
        if origin in (dict, Mapping):
            annotation = args[1]
        elif origin in (list, Sequence):
            annotation = args[0]
        else:
            return []
    model = _model_in(annotation)
    return list(model.model_fields) if model is not None else []


def _short(value: Any, limit: int = 60) -> str:
    if isinstance(value, int) and value.bit_length() > 64:  # repr() refuses 4,300+ digits
        return f"an integer of {value.bit_length():,} bits"
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
