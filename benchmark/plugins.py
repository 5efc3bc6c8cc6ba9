"""A researcher's own algorithms, loaded without editing the package.

Two ways in, both ending in ``algorithms.register``:

- ``--plugin MODULE_OR_FILE.py`` on every command: a Python file (by path) or an importable module whose import
  registers one or more ``Algorithm`` subclasses with ``@algorithms.register("name")``;
- the entry-point group ``meta_benchmark.algorithms`` of an installed package (``pip install my-method``): each entry
  point names a module (imported, as above) or an ``Algorithm`` subclass (registered under the entry point's name).

Once loaded a plugin's algorithm is a built-in's equal: listed, chosen with ``--algorithm``, tuned, checkpointed.
The loaded plugins are recorded in ``META_BENCHMARK_PLUGINS`` so that spawned ``--workers`` load them too, and in
each run's tags (``plugins``: what was loaded, with the file's SHA-256 or the distribution's version).
"""
from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import importlib.util
import json
import os
import sys
from pathlib import Path

import algorithms
from algorithms.base import Algorithm

ENV = "META_BENCHMARK_PLUGINS"  # JSON list of the --plugin specs this process loaded (inherited by workers)
GROUP = "meta_benchmark.algorithms"
CONSUMES = ("batches", "episodes")
_LOADED: dict[str, str] = {}  # spec -> provenance ("file sha256:..." / "module ..." / "entry point dist==version")
_SOURCES: dict[str, str] = {}  # a plugin file's path -> the source it was loaded from (what a Ray task carries)


class PluginError(ValueError):
    """A plugin that cannot be used, in one line (exit 2)."""


def _registered() -> set[str]:
    return set(algorithms.available())


def _import_file(path: Path):
    if not path.is_file():
        raise PluginError(f"--plugin {path}: no such file")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    name = f"benchmark_plugin_{path.stem}_{digest[:8]}"
    if name in sys.modules:
        return sys.modules[name], f"file {path.name} sha256:{digest[:16]}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # before executing: dataclasses and pickling look the module up by name
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module, f"file {path.name} sha256:{digest[:16]}"


def _check_new(source: str, before: set[str]) -> list[str]:
    new = sorted(_registered() - before)
    if not new:
        raise PluginError(f"{source} registers no algorithm: decorate an Algorithm subclass with "
                          "@algorithms.register(\"name\")")
    for name in new:
        consumes = getattr(algorithms.get_class(name), "consumes", None)
        if consumes not in CONSUMES:
            raise PluginError(f"{source}: algorithm {name!r} declares consumes={consumes!r}; valid: {', '.join(CONSUMES)}")
    return new


def load(spec: str) -> list[str]:
    """Import a plugin (a ``.py`` file or a module name) once; the names it registered. One-line errors."""
    if spec in _LOADED:
        return []
    before = _registered()
    source = f"--plugin {spec}"
    try:
        if spec.endswith(".py") or os.sep in spec:
            path = Path(spec).resolve()
            _, provenance = _import_file(path)
            key = str(path)
            _SOURCES[key] = path.read_bytes().decode()  # byte for byte: the hash a Ray task recomputes
        else:
            module = importlib.import_module(spec)
            provenance = f"module {spec} {getattr(module, '__version__', '')}".strip()
            key = spec
    except PluginError:
        raise
    except ValueError as e:  # algorithms.register: a name that clashes with a built-in or another plugin
        raise PluginError(f"{source}: {e}") from None
    except BaseException as e:  # noqa: BLE001 - whatever the user's module raises, one line
        if isinstance(e, KeyboardInterrupt):
            raise
        raise PluginError(f"{source} failed to import: {type(e).__name__}: {e}".splitlines()[0]) from None
    names = _check_new(source, before)
    _LOADED[key] = provenance
    _remember(key)
    return names


def _remember(key: str) -> None:
    specs = json.loads(os.environ.get(ENV, "[]"))
    if key not in specs:
        os.environ[ENV] = json.dumps([*specs, key])


def load_entry_points() -> list[str]:
    """Every installed package's algorithms (entry-point group ``meta_benchmark.algorithms``)."""
    names: list[str] = []
    for ep in importlib.metadata.entry_points(group=GROUP):
        key = f"entry point {ep.name}"
        if key in _LOADED:
            continue
        before = _registered()
        try:
            obj = ep.load()
            if isinstance(obj, type) and issubclass(obj, Algorithm) and ep.name not in _registered():
                algorithms.register(ep.name)(obj)
        except BaseException as e:  # noqa: BLE001
            if isinstance(e, KeyboardInterrupt):
                raise
            raise PluginError(f"entry point {ep.name} ({ep.value}) failed to load: {type(e).__name__}: {e}".splitlines()[0]) from None
        new = _check_new(f"entry point {ep.name} ({ep.value})", before) if ep.name not in before else []
        dist = getattr(ep, "dist", None)
        _LOADED[key] = f"entry point {ep.value}" + (f" {dist.name}=={dist.version}" if dist else "")
        names += new
    return names


def load_all(specs: list[str] | None = None) -> None:
    """The entry points, the plugins a parent process loaded (``META_BENCHMARK_PLUGINS``) and ``specs``."""
    load_entry_points()
    for spec in [*json.loads(os.environ.get(ENV, "[]")), *(specs or [])]:
        load(spec)


def payload() -> list[dict[str, str]]:
    """This process's plugins in a form that travels to another machine (a Ray task): a file's source with its name,
    a module's name (which must be importable there, e.g. pip-installed). Entry points load themselves."""
    out = []
    for key in json.loads(os.environ.get(ENV, "[]")):
        if key in _SOURCES:
            out.append({"file": Path(key).name, "source": _SOURCES[key]})
        elif Path(key).is_file():
            out.append({"file": Path(key).name, "source": Path(key).read_bytes().decode()})
        else:
            out.append({"module": key})
    return out


def install(items: list[dict[str, str]]) -> None:
    """Load a ``payload`` from another process: a file is written under this machine's temporary folder, in a folder
    named by its content's hash (its provenance, the name and the SHA-256, is the sender's), then loaded like --plugin."""
    import tempfile

    load_entry_points()
    for item in items:
        if "module" in item:
            load(item["module"])
            continue
        digest = hashlib.sha256(item["source"].encode()).hexdigest()
        path = Path(tempfile.gettempdir()) / "meta-benchmark-plugins" / digest[:16] / item["file"]
        if not path.is_file():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_bytes(item["source"].encode())
            os.replace(tmp, path)
        load(str(path))


def provenance() -> str:
    """What this process loaded, for the runs' tags ("" when nothing)."""
    return "; ".join(f"{k}: {v}" if not k.startswith("entry point") else v for k, v in sorted(_LOADED.items()))
