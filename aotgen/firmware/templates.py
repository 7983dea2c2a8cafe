"""Project templates: the built-in ones in project_templates/, or any cookiecutter template folder.

A template is a cookiecutter template (cookiecutter.json + `{{cookiecutter.project_slug}}/`) that
reads the context aotgen passes (docs/templates.md). An optional `aotgen_template.yaml` beside
cookiecutter.json says how aotgen treats the generated project:

    description: one line for `aotgen templates`
    board_key: arduino          # the board file's `templates.<key>` entry that must exist (its
                                # settings, e.g. the FQBN, reach the template as _aotgen.template)
    build: make                 # make | arduino | west: how `aotgen build` builds the project
    sources_dir: src            # where the harness files go ({var} = a template variable)
    flat_model_sources: false   # also copy each model's header + C sources into sources_dir
    elf: build/firmware.elf     # the built firmware, relative to the project ({var} allowed)
    ram_overhead_bytes: 0       # RAM the template's runtime uses besides arenas, I/O, harness
                                # and stack (counted in the fit check before building)
    apps: [harness]             # the firmware apps its main can run (aotgen project --app);
                                # built-in templates: all of APPS

Without the file: board_key is the template's name for built-in templates and none (any board)
for a folder, and everything else takes the defaults above.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .boards import TEMPLATES_DIR, Board, list_boards, template_names
from ..errors import AotgenError

SPEC_FILE = "aotgen_template.yaml"
BUILD_SYSTEMS = ("make", "arduino", "west")
# What a project's main runs (aotgen.firmware.apps): the test harness, a minimal application, the
# MLPerf Tiny runner's protocol.
APPS = ("harness", "minimal", "mlperf-tiny")

# Top-level variables aotgen fills in (a template declares in its cookiecutter.json those it
# uses) and, for some, the `_aotgen` entry they stand for: `--set stack_bytes=4096` changes both.
KNOWN_VARIABLES: dict[str, tuple[str, ...] | None] = {
    "project_slug": None,
    "project_name": None,
    "board_name": None,
    "stack_bytes": ("memory", "stack_bytes"),
    "baud_rate": ("board", "console", "baud"),
    "opt_flags": None,
    "arena_section": None,
}


@dataclass(frozen=True)
class TemplateSpec:
    name: str
    path: Path
    builtin: bool
    description: str = ""
    board_key: str | None = None
    build: str = "make"
    sources_dir: str = "src"
    flat_model_sources: bool = False
    elf: str = "build/firmware.elf"
    ram_overhead_bytes: int = 0
    apps: tuple[str, ...] = ("harness",)
    defaults: dict[str, Any] = field(default_factory=dict)  # cookiecutter.json's public variables

    def default(self, key: str, fallback: Any) -> Any:
        return self.defaults.get(key, fallback)

    def check_variable(self, key: str) -> None:
        """A variable given with --set must be one the template declares."""
        if key not in self.defaults:
            known = ", ".join(k for k in self.defaults) or "(none)"
            raise AotgenError(f"template {self.name} has no variable '{key}'; its variables: {known}")

    def check_value(self, key: str, value: Any) -> None:
        """A --set value must have the type of the variable's default (a number for a number, one
        of the choices for a choice variable)."""
        self.check_variable(key)
        default = self.defaults[key]
        if isinstance(default, list):
            if value not in default:
                raise AotgenError(f"--set {key}={value}: template {self.name} allows {', '.join(map(str, default))}")
        elif isinstance(default, bool):
            if not isinstance(value, bool):
                raise AotgenError(f"--set {key}={value}: expected true or false")
        elif isinstance(default, int):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise AotgenError(f"--set {key}={value}: expected a whole number of "
                                  f"{'bytes' if key.endswith('_bytes') else 'units'} (e.g. {default or 4096})")

    def apply_known_variables(self, extra: dict[str, Any], aot_ctx: dict[str, Any]) -> None:
        """Copy well-known top-level values into the `_aotgen` entries they stand for."""
        for key, where in KNOWN_VARIABLES.items():
            if where is None or key not in extra:
                continue
            node = aot_ctx
            for part in where[:-1]:
                node = node.setdefault(part, {})
            node[where[-1]] = extra[key]

    def boards(self) -> list[str]:
        """Boards whose file has this template's entry (all boards when board_key is None)."""
        return [b.name for b in list_boards() if self.board_key is None or self.board_key in b.templates]

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "path": str(self.path), "builtin": self.builtin,
                "description": self.description, "build": self.build, "board_key": self.board_key,
                "apps": list(self.apps), "variables": self.defaults, "boards": self.boards()}


def load_template(template: str | Path) -> TemplateSpec:
    """A built-in template by name, or a template folder (a path that exists, or contains '/')."""
    text = str(template)
    as_path = Path(template)
    if isinstance(template, Path) or "/" in text or (as_path.is_dir() and text not in template_names()):
        if not (as_path / "cookiecutter.json").is_file():
            raise AotgenError(f"{as_path}: not a cookiecutter template (no cookiecutter.json)")
        return _load(as_path.resolve(), as_path.resolve().name, builtin=False)
    if text not in template_names():
        raise AotgenError(f"unknown template '{text}'; available: {', '.join(template_names()) or '(none)'} "
                          "(or give a template folder with --template-dir)")
    return _load(TEMPLATES_DIR / text, text, builtin=True)


def list_templates() -> list[TemplateSpec]:
    return [load_template(name) for name in template_names()]


def _load(path: Path, name: str, builtin: bool) -> TemplateSpec:
    try:
        defaults = json.loads((path / "cookiecutter.json").read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise AotgenError(f"{path / 'cookiecutter.json'}: {e}") from None
    if not isinstance(defaults, dict):
        raise AotgenError(f"{path / 'cookiecutter.json'}: expected a JSON object")
    if not any(p.name.startswith("{{") for p in path.iterdir() if p.is_dir()):
        raise AotgenError(f"{path}: a cookiecutter template needs a folder named like {{{{cookiecutter.project_slug}}}}")
    public = {k: v for k, v in defaults.items() if not k.startswith("_")}
    spec: dict[str, Any] = {}
    f = path / SPEC_FILE
    if f.is_file():
        try:
            spec = yaml.safe_load(f.read_text()) or {}
        except yaml.YAMLError as e:
            raise AotgenError(f"{f}: invalid YAML: {e}") from None
        if not isinstance(spec, dict):
            raise AotgenError(f"{f}: expected a mapping")
        unknown = set(spec) - {"description", "board_key", "build", "sources_dir", "flat_model_sources", "elf",
                               "ram_overhead_bytes", "apps"}
        if unknown:
            raise AotgenError(f"{f}: unknown field(s) {', '.join(sorted(unknown))}")
    build = spec.get("build", "make")
    if build not in BUILD_SYSTEMS:
        raise AotgenError(f"{f}: field 'build': '{build}' is not one of {', '.join(BUILD_SYSTEMS)}")
    for key in ("sources_dir", "elf"):
        if key in spec and (not isinstance(spec[key], str) or not spec[key] or Path(spec[key]).is_absolute()):
            raise AotgenError(f"{f}: field '{key}': expected a relative path")
    overhead = spec.get("ram_overhead_bytes", 0)
    if isinstance(overhead, bool) or not isinstance(overhead, int) or overhead < 0:
        raise AotgenError(f"{f}: field 'ram_overhead_bytes': expected a non-negative integer")
    apps = spec.get("apps", list(APPS) if builtin else ["harness"])
    if not isinstance(apps, list) or not apps or any(a not in APPS for a in apps):
        raise AotgenError(f"{f}: field 'apps': expected a list of {', '.join(APPS)}")
    return TemplateSpec(
        name=name, path=path, builtin=builtin,
        description=str(spec.get("description", "")),
        board_key=spec.get("board_key", name if builtin else None),
        build=build,
        sources_dir=spec.get("sources_dir", "src"),
        flat_model_sources=bool(spec.get("flat_model_sources", False)),
        elf=spec.get("elf", "build/firmware.elf"),
        ram_overhead_bytes=overhead,
        apps=tuple(apps),
        defaults=public,
    )


def choose_template(board: Board, template: str | None, template_dir: Path | None,
                    set_items: tuple[str, ...] | list[str] = ()) -> tuple[TemplateSpec, str | Path, dict[str, Any]]:
    """The template for a project (a built-in name, a folder, or the board's first), checked
    against the board and the --set values, before anything is compiled: (spec, what
    generate_project takes, the overrides)."""
    if template and template_dir:
        raise AotgenError("give --template or --template-dir, not both")
    source: str | Path = template_dir or template or next(iter(board.templates))
    spec = load_template(source)
    if spec.board_key and spec.board_key not in board.templates:
        raise AotgenError(f"board {board.name} does not support template '{spec.name}'; it supports: "
                          f"{', '.join(board.templates)}")
    overrides = parse_set(set_items)
    for key, value in overrides.items():
        spec.check_value(key, value)
    return spec, source, overrides


def parse_set(items: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """`--set key=value` items -> {key: value}, values read as YAML scalars (4096 -> int,
    true -> bool, -O2 -> str)."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise AotgenError(f"--set {item!r}: expected key=value")
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            value = raw
        if isinstance(value, (dict, list)):
            raise AotgenError(f"--set {item!r}: expected a scalar value (number, text, true/false)")
        out[key] = "" if value is None else value
    return out
