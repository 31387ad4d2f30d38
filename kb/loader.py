"""Parse and validate the KB source files (kb/data/README.md) into `kb.schema` dataclasses.

Works on YAML nodes rather than plain objects so every problem carries its line: ``file:line: field: message``.
All files are checked before anything is returned; one problem anywhere means no KnowledgeBase at all, so an
import can never be partial.
"""

from __future__ import annotations

import dataclasses
import functools
import re
import types
import typing
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from hotline.errors import HotlineError
from kb.schema import (
    DELIVERY_MODES,
    FORMS,
    TARGETS,
    Bundle,
    Department,
    Item,
    KnowledgeBase,
)

BUNDLE_KINDS = ("", "商事", "不动产", "民生")  # "" = not classified yet
ITEM_CODE = re.compile(r"^[A-Z]{1,6}-\d{3}$")
DEPT_CODE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
# libyaml's loader keeps node marks (line numbers) and is ~10x faster than the pure-Python one.
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_STR, _INT, _BOOL, _NULL = (f"tag:yaml.org,2002:{t}" for t in ("str", "int", "bool", "null"))


@dataclass(frozen=True)
class Problem:
    file: str
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.field}: {self.message}"


class KBValidationError(HotlineError):
    """The source files have problems; ``problems`` lists every one of them."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        lines = "\n".join(str(p) for p in problems)
        super().__init__(f"knowledge base has {len(problems)} problem(s):\n{lines}")


class _Reader:
    """Turns YAML nodes of one file into dataclasses, collecting problems instead of stopping at the first."""

    def __init__(self, file: str, problems: list[Problem]) -> None:
        self.file = file
        self.problems = problems

    def problem(self, node: yaml.Node | None, field: str, message: str) -> None:
        line = node.start_mark.line + 1 if node is not None else 1
        self.problems.append(Problem(self.file, line, field, message))

    def mapping(self, node: yaml.Node, path: str) -> dict[str, tuple[yaml.Node, yaml.Node]] | None:
        if not isinstance(node, yaml.MappingNode):
            self.problem(node, path or "(top)", "expected a mapping of key: value")
            return None
        out: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value)
            if key in out:
                self.problem(key_node, _join(path, key), "duplicate key")
                continue
            out[key] = (key_node, value_node)
        return out

    def record(self, cls: type, node: yaml.Node, path: str, skip: tuple[str, ...] = ()) -> Any:
        """Build dataclass ``cls`` from a mapping node; None if anything inside was wrong."""
        pairs = self.mapping(node, path)
        if pairs is None:
            return None
        hints, fields = _schema(cls)
        known = {name: f for name, f in fields.items() if name not in skip}
        before = len(self.problems)
        values: dict[str, Any] = {}
        for key, (key_node, _) in pairs.items():
            if key not in known:
                self.problem(key_node, _join(path, key), f"unknown field (accepted: {', '.join(known)})")
        for name, f in known.items():
            required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
            if name not in pairs:
                if required:
                    self.problem(node, _join(path, name), "required field is missing")
                continue
            value_node = pairs[name][1]
            if not required and value_node.tag == _NULL:
                continue  # an empty optional field means its default
            values[name] = self.value(hints[name], value_node, _join(path, name))
        if len(self.problems) > before:
            return None
        return cls(**values)

    def value(self, kind: Any, node: yaml.Node, path: str) -> Any:
        origin = typing.get_origin(kind)
        if origin is list:
            (inner,) = typing.get_args(kind)
            if not isinstance(node, yaml.SequenceNode):
                self.problem(node, path, "expected a list")
                return []
            return [self.value(inner, child, f"{path}[{i}]") for i, child in enumerate(node.value)]
        if origin in (types.UnionType, typing.Union):  # str | list[str] (centre facts)
            if isinstance(node, yaml.SequenceNode):
                return self.value(list[str], node, path)
            return self.value(str, node, path)
        if dataclasses.is_dataclass(kind):
            return self.record(kind, node, path)
        expected = {str: _STR, int: _INT, bool: _BOOL}[kind]
        if not isinstance(node, yaml.ScalarNode) or node.tag != expected:
            got = _describe(node)
            self.problem(node, path, f"expected {_KIND_WORDS[kind]}, got {got}")
            return None
        if kind is bool:
            return node.value.lower() in ("true", "yes", "on")
        if kind is int:
            return int(node.value)
        return node.value.strip()


_KIND_WORDS = {str: "text", int: "a whole number", bool: "true or false"}


@functools.cache
def _schema(cls: type) -> tuple[dict[str, Any], dict[str, dataclasses.Field]]:
    # get_type_hints re-evaluates every annotation string on each call: half the load time of 500 items.
    return typing.get_type_hints(cls), {f.name: f for f in dataclasses.fields(cls)}


def _describe(node: yaml.Node) -> str:
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    return {_NULL: "nothing", _BOOL: "true/false", _INT: "a number", _STR: "text"}.get(node.tag, f"{node.value!r}")


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _read_text(path: Path, label: str, problems: list[Problem]) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        problems.append(Problem(label, 1, "(file)", f"not UTF-8 text: {exc.reason}"))
        return None


def _compose(text: str, label: str, problems: list[Problem]) -> yaml.Node | None:
    try:
        node = yaml.compose(text, Loader=_YAML_LOADER)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        problems.append(Problem(label, line, "(yaml)", f"{exc.problem or exc.context}"))
        return None
    if node is None:
        problems.append(Problem(label, 1, "(file)", "file is empty"))
    return node


# ---------------------------------------------------------------------------------------------- per-file readers


def _read_department(node: yaml.Node, reader: _Reader, stem: str) -> Department | None:
    top = reader.mapping(node, "")
    if top is None:
        return None
    for key, (key_node, _) in top.items():
        if key not in ("department", "items"):
            reader.problem(key_node, key, "unknown field (accepted: department, items)")
    if "department" not in top:
        reader.problem(node, "department", "required field is missing")
        return None
    dept = reader.record(Department, top["department"][1], "department", skip=("items",))
    if dept is not None:
        if not DEPT_CODE.match(dept.code):
            reader.problem(top["department"][1], "department.code", f"{dept.code!r} must be short lowercase ASCII")
        elif dept.code != stem:
            reader.problem(top["department"][1], "department.code", f"{dept.code!r} must match the file name {stem!r}")
    items_node = top.get("items", (None, None))[1]
    if items_node is None:
        reader.problem(node, "items", "required field is missing")
        return None
    if not isinstance(items_node, yaml.SequenceNode):
        reader.problem(items_node, "items", "expected a list")
        return None
    items = []
    for i, item_node in enumerate(items_node.value):
        item = reader.record(Item, item_node, f"items[{i}]", skip=("department",))
        if item is not None and _check_item(item, item_node, f"items[{i}]", reader):
            items.append(item)
    if dept is None or len(items) != len(items_node.value):
        return None
    for item in items:
        item.department = dept.code
    dept.items = items
    return dept


def _check_item(item: Item, node: yaml.Node, path: str, reader: _Reader) -> bool:
    before = len(reader.problems)
    if not ITEM_CODE.match(item.code):
        reader.problem(node, f"{path}.code", f"{item.code!r} must look like GA-001")
    if not item.name:
        reader.problem(node, f"{path}.name", "must not be empty")
    if item.target not in TARGETS:
        reader.problem(node, f"{path}.target", f"{item.target!r} must be one of {', '.join(TARGETS)}")
    for j, m in enumerate(item.materials):
        if m.form not in FORMS:
            reader.problem(node, f"{path}.materials[{j}].form", f"{m.form!r} must be one of {', '.join(FORMS)}")
        if m.copies < 0:
            reader.problem(node, f"{path}.materials[{j}].copies", "must not be negative")
    for mode in item.delivery:
        if mode not in DELIVERY_MODES:
            reader.problem(node, f"{path}.delivery", f"{mode!r} must be one of {', '.join(DELIVERY_MODES)}")
    if item.legal_days < 0 or item.promised_days < 0:
        reader.problem(node, f"{path}.legal_days", "days must not be negative")
    names = {m.name for m in item.materials}
    for later in item.tolerance.later_materials:
        if later not in names:
            reader.problem(node, f"{path}.tolerance.later_materials", f"{later!r} is not one of this item's materials")
    return len(reader.problems) == before


def _read_bundles(node: yaml.Node, reader: _Reader) -> list[tuple[Bundle, yaml.Node]]:
    top = reader.mapping(node, "")
    if top is None:
        return []
    for key, (key_node, _) in top.items():
        if key != "bundles":
            reader.problem(key_node, key, "unknown field (accepted: bundles)")
    seq = top.get("bundles", (None, None))[1]
    if not isinstance(seq, yaml.SequenceNode):
        reader.problem(seq or node, "bundles", "expected a list")
        return []
    out = []
    for i, bnode in enumerate(seq.value):
        bundle = reader.record(Bundle, bnode, f"bundles[{i}]")
        if bundle is not None:
            if not bundle.items:
                reader.problem(bnode, f"bundles[{i}].items", "must list at least one item")
            if bundle.kind not in BUNDLE_KINDS:
                reader.problem(_find_scalar(bnode, bundle.kind) or bnode, f"bundles[{i}].kind", f"{bundle.kind!r} must be one of 商事, 不动产, 民生 (or empty)")
            out.append((bundle, bnode))
    return out


def _read_centre(node: yaml.Node, reader: _Reader) -> dict[str, str | list[str]]:
    top = reader.mapping(node, "")
    if top is None:
        return {}
    if set(top) == {"centre"}:  # tolerate a single wrapping key
        top = reader.mapping(top["centre"][1], "centre") or {}
    return {key: reader.value(str | list[str], value, key) for key, (_, value) in top.items()}


# ------------------------------------------------------------------------------------------------ whole directory


def validate_dir(directory: str | Path) -> tuple[KnowledgeBase | None, list[Problem]]:
    """Read and check every source file; the KnowledgeBase is None whenever any problem was found."""
    root = Path(directory)
    problems: list[Problem] = []
    if not root.is_dir():
        return None, [Problem(str(root), 1, "(dir)", "not a directory")]
    paths = [root / "centre.yaml", *sorted((root / "departments").glob("*.yaml")), root / "bundles.yaml"]
    texts: dict[str, str | None] = {}
    labels: dict[str, str] = {}
    for path in paths:
        if path.exists():
            name = path.relative_to(root).as_posix()
            texts[name] = _read_text(path, str(path), problems)
            labels[name] = str(path)
    if not any(name.startswith("departments/") for name in texts):
        problems.append(Problem(str(root / "departments"), 1, "(dir)", "no department files found"))
    kb, more = validate_texts(texts, labels)
    problems += more
    return (None if problems else kb), problems


def validate_texts(
    texts: dict[str, str | None], labels: dict[str, str] | None = None
) -> tuple[KnowledgeBase | None, list[Problem]]:
    """Check source files given as {relative path: YAML text} (``centre.yaml``, ``departments/<code>.yaml``,
    ``bundles.yaml``); problems name ``labels[path]`` (default: the path). A None text is a file that could not be
    read (its problem already reported): its item codes are unknown, so bundles are not checked against them.

    The one validation behind `hotline kb validate`, the admin panel and the spreadsheet import.
    """
    labels = labels or {}
    problems: list[Problem] = []
    kb = KnowledgeBase()

    def compose(name: str) -> yaml.Node | None:
        text = texts.get(name)
        return None if text is None else _compose(text, labels.get(name, name), problems)

    if "centre.yaml" in texts:
        node = compose("centre.yaml")
        if node is not None:
            kb.centre = _read_centre(node, _Reader(labels.get("centre.yaml", "centre.yaml"), problems))

    # Every alias/name/code seen so far -> where it was defined, for cross-file duplicate checks.
    codes: dict[str, str] = {}
    aliases: dict[str, str] = {}
    codes_complete = True  # False once a department file could not be parsed: its codes are unknown
    for name in sorted(n for n in texts if n.startswith("departments/")):
        label = labels.get(name, name)
        node = compose(name)
        if node is None:
            codes_complete = False
            continue
        reader = _Reader(label, problems)
        dept = _read_department(node, reader, PurePosixPath(name).stem)
        # Codes are registered from the raw nodes even when the file has other problems, so one bad field
        # does not also make every bundle that uses the item look broken.
        # Aliases likewise, so a clash is reported even next to an unrelated problem in the same file.
        for i, item_node in enumerate(_raw_items(node)):
            code = _scalar(item_node, "code")
            _claim_aliases(_raw_aliases(item_node), code or f"items[{i}]", f"items[{i}].aliases", item_node, reader,
                           aliases)
            if code is None:
                continue
            if code in codes:
                reader.problem(item_node, f"items[{i}].code", f"duplicate code {code!r}, first at {codes[code]}")
            codes.setdefault(code, f"{label}:{item_node.start_mark.line + 1}")
        if dept is not None:
            kb.departments.append(dept)

    if "bundles.yaml" in texts:
        label = labels.get("bundles.yaml", "bundles.yaml")
        node = compose("bundles.yaml")
        if node is not None:
            reader = _Reader(label, problems)
            for i, (bundle, bnode) in enumerate(_read_bundles(node, reader)):
                if bundle.code in codes:
                    reader.problem(bnode, f"bundles[{i}].code", f"duplicate code {bundle.code!r}, first at {codes[bundle.code]}")
                codes.setdefault(bundle.code, f"{label}:{bnode.start_mark.line + 1}")
                _claim_aliases(bundle.aliases, bundle.code, f"bundles[{i}].aliases", bnode, reader, aliases)
                missing = [c for c in bundle.items if codes_complete and (c not in codes or c == bundle.code)]
                for code in missing:
                    line_node = _find_scalar(bnode, code) or bnode
                    reader.problem(line_node, f"bundles[{i}].items", f"item {code!r} does not exist")
                kb.bundles.append(bundle)
    return (None if problems else kb), problems


def _raw_items(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if key.value == "items" and isinstance(value, yaml.SequenceNode):
                return list(value.value)
    return []


def _raw_aliases(node: yaml.Node) -> list[str]:
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            if k.value == "aliases" and isinstance(v, yaml.SequenceNode):
                return [str(a.value).strip() for a in v.value if isinstance(a, yaml.ScalarNode) and a.tag == _STR]
    return []


def _scalar(node: yaml.Node, key: str) -> str | None:
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            if k.value == key and isinstance(v, yaml.ScalarNode):
                return str(v.value)
    return None


def _claim_aliases(
    texts: list[str], code: str, path: str, node: yaml.Node, reader: _Reader, seen: dict[str, str]
) -> None:
    for text in texts:
        owner = seen.get(text)
        if owner is not None and owner != code:
            reader.problem(_find_scalar(node, text) or node, path, f"duplicate alias {text!r}, already used by {owner}")
        elif owner == code:
            reader.problem(_find_scalar(node, text) or node, path, f"alias {text!r} listed twice")
        seen[text] = code


def _find_scalar(node: yaml.Node, text: str) -> yaml.Node | None:
    """The last scalar node under ``node`` whose value is ``text`` (for pointing at the exact line)."""
    found = None
    stack = [node]
    while stack:
        cur = stack.pop()
        if isinstance(cur, yaml.ScalarNode) and cur.value == text:
            found = cur if found is None or cur.start_mark.line > found.start_mark.line else found
        elif isinstance(cur, yaml.SequenceNode):
            stack.extend(cur.value)
        elif isinstance(cur, yaml.MappingNode):
            stack.extend(v for _, v in cur.value)
    return found


def load_dir(directory: str | Path) -> KnowledgeBase:
    """The validated KnowledgeBase, or KBValidationError listing every problem."""
    kb, problems = validate_dir(directory)
    if kb is None:
        raise KBValidationError(problems)
    return kb


def default_data_dir() -> Path:
    return Path(__file__).with_name("data")

