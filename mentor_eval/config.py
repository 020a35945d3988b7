"""Reading and checking configuration files (``study.yaml`` and instrument definitions).

One safe YAML reader and one key checker serve :mod:`mentor_eval.study` and
:mod:`mentor_eval.instruments`, so both kinds of file follow the same rules and speak
with the same words:

* plain ``yaml.SafeLoader`` (no Python objects), with a key given twice in one mapping an
  error naming both lines (plain YAML keeps the later value silently);
* anchors and aliases are allowed, but the document they expand to is bounded
  (:data:`MAX_NODES`): a "billion laughs" file fails at once instead of growing without end;
* a file that is not UTF-8 gets the line and column of the first bad byte and how to fix it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml

from mentor_eval.errors import MentorEvalError

__all__ = ["MAX_NODES", "read_yaml", "ConfigChecker", "kind"]

#: Largest number of values a configuration file may expand to once aliases are followed.
#: A large study file holds a few thousand; a "billion laughs" file holds 10**9.
MAX_NODES = 100_000

_MERGE_TAG = "tag:yaml.org,2002:merge"


class _SafeLoader(yaml.SafeLoader):
    """SafeLoader that rejects duplicate keys (naming both lines)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == _MERGE_TAG or not isinstance(key_node, yaml.ScalarNode):
                continue
            key = self.construct_object(key_node, deep=False)
            try:
                first = seen.get(key)
            except TypeError:  # unhashable key: SafeConstructor reports it
                continue
            line = key_node.start_mark.line + 1
            if first is not None:
                raise _DuplicateKey(key, first, line)
            seen[key] = line
        return super().construct_mapping(node, deep)


class _DuplicateKey(Exception):
    def __init__(self, key: Any, first: int, second: int) -> None:
        super().__init__(key)
        self.key, self.first, self.second = key, first, second


class _Recursive(Exception):
    pass


def _expanded_size(root: yaml.Node) -> int:
    """Number of nodes the document has once every alias is expanded (memoised, linear time).

    Raises ``_Recursive`` for an alias inside its own anchor (a structure that contains itself).
    """
    sizes: dict[int, int] = {}
    active: set[int] = set()  # expanded, not finished: the current path of the walk
    # Iterative post-order walk: nested anchors can be deeper than Python's recursion limit.
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        children: list[yaml.Node] = []
        if isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        elif isinstance(node, yaml.MappingNode):
            children = [n for pair in node.value for n in pair]
        if done:
            active.discard(key)
            sizes[key] = min(1 + sum(sizes[id(c)] for c in children), MAX_NODES + 1)
            continue
        if key in sizes:
            continue
        if key in active:
            raise _Recursive
        active.add(key)
        stack.append((node, True))
        stack.extend((c, False) for c in children if id(c) not in sizes)
    return sizes[id(root)]


def _decode(data: bytes, name: str, error: type[MentorEvalError], what: str) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise error(f"{name}: the {what} is saved as UTF-16; save it as UTF-8 (in most editors: Save As, "
                    "Encoding: UTF-8).")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        head = data[: exc.start]
        line = head.count(b"\n") + 1
        column = exc.start - (head.rfind(b"\n") + 1) + 1
        try:
            data.decode("cp1252")
            guess = " It looks like Windows-1252/Latin-1 text (accented letters typed in an older editor)."
        except UnicodeDecodeError:
            guess = ""
        raise error(f"{name}: line {line}, column {column}: the {what} is not UTF-8 text (byte "
                    f"0x{data[exc.start]:02X} cannot be decoded).{guess} Save the file as UTF-8 (in most editors: "
                    "Save As, Encoding: UTF-8) and run again.") from None


def read_yaml(path: str | Path, *, error: type[MentorEvalError], what: str = "file") -> Any:
    """Read a YAML configuration file safely.

    Parameters
    ----------
    path : path
        The file.
    error : MentorEvalError subclass
        The error type to raise (``StudyConfigError``, ``InstrumentDefinitionError``).
    what : str
        What the file is, for messages (``"study file"``).

    Returns
    -------
    object
        The parsed document (mappings, lists, text, numbers, true/false, dates).

    Raises
    ------
    error
        Unreadable, not UTF-8 (line, column and the fix), not valid YAML (line, column), a key
        given twice in one mapping (both lines), or aliases expanding beyond :data:`MAX_NODES`
        values. Messages never quote the file's content beyond the offending key.
    """
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise error(f"{p.name}: cannot be read ({exc.strerror}).") from None
    text = _decode(data, p.name, error, what)
    loader = _SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        if _expanded_size(node) > MAX_NODES:
            raise error(f"{p.name}: the {what} expands to more than {MAX_NODES:,} values through its anchors "
                        "and aliases ('&name' / '*name'), far more than any study needs; this is how a "
                        "'billion laughs' file exhausts memory. Write the values out instead of nesting aliases.")
        return loader.construct_document(node)
    except _Recursive:
        raise error(f"{p.name}: an alias ('*name') is used inside its own anchor ('&name'), so the {what} "
                    "would contain itself without end; write the values out instead.") from None
    except _DuplicateKey as exc:
        raise error(f"{p.name}: line {exc.second}: the key {str(exc.key)!r} is given twice in the same mapping "
                    f"(first on line {exc.first}); YAML would silently keep only the later value. Delete one "
                    "of them.") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}:" if mark is not None else ""
        raise error(f"{p.name}:{where} not valid YAML ({getattr(exc, 'problem', None) or exc}).") from None
    except RecursionError:
        raise error(f"{p.name}: the {what} is nested too deeply to read.") from None
    finally:
        loader.dispose()


# ---------------------------------------------------------------------- checking
_KINDS = {
    "str": "text", "int": "a whole number", "float": "a number", "bool": "true/false",
    "list": "a list", "dict": "a mapping", "NoneType": "nothing", "date": "a date", "datetime": "a date and time",
}


def kind(value: Any) -> str:
    """A plain-words name for the type of a configuration value."""
    return _KINDS.get(type(value).__name__, type(value).__name__)


class ConfigChecker:
    """Type rules and messages shared by the study and instrument checkers.

    Parameters
    ----------
    source : str
        File name used at the start of every message.
    error : MentorEvalError subclass
        Error type raised.
    noun : str
        What a configuration entry is called in messages: ``"key"`` (study files) or
        ``"field"`` (instrument definitions).
    """

    def __init__(self, source: str, error: type[MentorEvalError], noun: str = "key") -> None:
        self.source = source
        self.error = error
        self.noun = noun

    def fail(self, path: str, problem: str) -> MentorEvalError:
        where = f" {self.noun} '{path}':" if path else ""
        return self.error(f"{self.source}:{where} {problem}")

    def mapping(self, value: Any, path: str) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            raise self.fail(path, f"must be a mapping (key: value pairs); got {kind(value)}.")
        return value

    def seq(self, value: Any, path: str, *, allow_scalar: bool = False, allow_none: bool = True) -> list[Any]:
        if value is None and allow_none:
            return []
        if allow_scalar and isinstance(value, str):
            return [value]
        if not isinstance(value, list):
            raise self.fail(path, f"must be a list; got {kind(value)}.")
        return value

    def text(self, value: Any, path: str, *, required: bool = True, numbers_as_text: bool = False) -> str | None:
        if value is None:
            if required:
                raise self.fail(path, "is required.")
            return None
        ok = isinstance(value, str) or (numbers_as_text and isinstance(value, (int, float))
                                        and not isinstance(value, bool))
        if not ok:
            raise self.fail(path, f"must be text; got {kind(value)} {_short(value)}.")
        s = str(value).strip()
        if not s:
            if required:
                raise self.fail(path, "must not be empty.")
            return None
        return s

    def integer(self, value: Any, path: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(path, f"must be a whole number; got {kind(value)} {_short(value)}.")
        return value

    def number(self, value: Any, path: str) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
            raise self.fail(path, f"must be a number; got {kind(value)} {_short(value)}.")
        return float(value)

    def flag(self, value: Any, path: str, default: bool = False) -> bool:
        if value is None:
            return default
        if not isinstance(value, bool):
            raise self.fail(path, f"must be true or false; got {kind(value)} {_short(value)}.")
        return value

    def choice(self, value: Any, path: str, allowed: tuple[str, ...]) -> str:
        s = self.text(value, path)
        if s not in allowed:
            raise self.fail(path, f"must be one of {', '.join(allowed)}; got {s!r}.")
        return s  # type: ignore[return-value]

    def unknown_keys(self, m: Mapping[str, Any], allowed: tuple[str, ...] | set[str], path: str) -> None:
        order = list(allowed) if not isinstance(allowed, (set, frozenset)) else sorted(allowed)
        extra = [str(k) for k in m if str(k) not in set(order)]
        if extra:
            where = f"{path}.{extra[0]}" if path else extra[0]
            import difflib

            near = difflib.get_close_matches(extra[0], order, n=1, cutoff=0.75)
            hint = f" Did you mean {near[0]!r}?" if near else ""
            raise self.fail(where, f"is not a known {self.noun}; allowed {self.noun}s: {', '.join(order)}.{hint}")

    def pattern(self, value: Any, path: str, regex: re.Pattern[str], rule: str) -> str:
        s = self.text(value, path)
        if not regex.match(s):  # type: ignore[arg-type]
            raise self.fail(path, f"{rule}; got {s!r}.")
        return s  # type: ignore[return-value]

    def each(self, value: Any, path: str, fn: Callable[[Any, str], Any]) -> list[Any]:
        return [fn(v, f"{path}[{i}]") for i, v in enumerate(self.seq(value, path))]


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
