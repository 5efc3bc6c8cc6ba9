"""MLflow tracking: the only module that imports mlflow.

Default store: a local SQLite file (``sqlite:///mlflow.db`` in the working directory,
artifacts in ``./mlartifacts``; for any SQLite store, ``mlartifacts/`` beside its file); ``--tracking-uri`` or ``MLFLOW_TRACKING_URI`` override.
A run is always ended: FINISHED, FAILED (with the traceback or divergence message as an
artifact) or KILLED (interrupted), never left RUNNING.
"""
from __future__ import annotations

import json
import logging
import os
import sys
import tempfile
import time
from collections.abc import Collection, Iterator
from pathlib import Path
from typing import Any

from .deferral import store_write
from .stores import check_uri, creation_lock, sqlite_path

DEFAULT_URI = "sqlite:///mlflow.db"
DEFAULT_ARTIFACTS = "mlartifacts"
PAGE_SIZE = 1000  # runs per search request; every search pages to the end
KEY_QUERIES = 200  # a grid of at most this many cells looks its finished runs up key by key
KIND_TAG, KIND = "mlflow.experimentKind", "custom_model_development"


def default_uri() -> str:
    return os.environ.get("MLFLOW_TRACKING_URI", DEFAULT_URI)


def artifact_root(sqlite_uri: str) -> Path:
    """Artifacts live beside the SQLite file (``mlartifacts/`` next to it), so a store is
    one self-contained folder whatever directory a command runs from."""
    db = sqlite_uri.removeprefix("sqlite:///")
    if db == sqlite_uri or not db or db.startswith(":memory:"):
        return Path(DEFAULT_ARTIFACTS).resolve()
    return Path(db).resolve().parent / DEFAULT_ARTIFACTS


def _quiet() -> None:
    for name in ("mlflow", "alembic", "sqlalchemy"):
        logging.getLogger(name).setLevel(logging.WARNING)


def _retry(fn, *args, attempts: int = 8, **kwargs):
    """SQLite allows one writer at a time: retry 'database is locked' with backoff."""
    delay = 0.1
    for i in range(attempts):
        try:
            with store_write():  # a SIGTERM or SIGINT waits for the write's end (deferral.py)
                return fn(*args, **kwargs)
        except Exception as e:  # mlflow wraps the sqlite error in its own exception types
            if "locked" not in str(e).lower() or i == attempts - 1:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 3.0)
    return None


SHARE_KEY = "comparison"  # the experiment's shared view: ``#/experiments/<id>/runs?viewStateShareKey=comparison``
SHARE_TAG = "mlflow.sharedViewState."  # MLflow's UI reads a shared runs-page state from this experiment tag


def comparison_view(test_metric: str) -> dict:
    """The runs page's state that shows the comparison: the grids' cells only (flat, not folded under their parent
    runs), best test accuracy first, with the accuracy, its interval and each cell's algorithm and seed as columns."""
    beside = {"test_acc": ["test_ci95"], "final_test_acc": ["final_test_top5", "final_val_acc"]}.get(test_metric, [])
    return {"searchFilter": "tags.config_key LIKE '%'", "orderByKey": f"metrics.`{test_metric}`", "orderByAsc": False,
            "selectedColumns": [f"metrics.`{m}`" for m in (test_metric, *beside)]
            + ["tags.`algorithm`", "tags.`seed`", "tags.`setting`"]}


def share_comparison(uri: str, test_metric_of: dict[str, str]) -> list[tuple[str, str, str | None]]:
    """Write the comparison view into every experiment of the store that holds a grid (its suite's test metric from
    ``test_metric_of``); (experiment id, name, latest grid parent run id) for each."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    out = []
    for exp in client.search_experiments():
        parents = client.search_runs([exp.experiment_id], "tags.grid_parent = '1'", max_results=1,
                                     order_by=["attributes.start_time DESC"])
        if not parents:
            continue
        metric = test_metric_of.get(parents[0].data.tags.get("suite_grid", ""), "test_acc")
        view = json.dumps(comparison_view(metric))
        if exp.tags.get(SHARE_TAG + SHARE_KEY) != view:
            client.set_experiment_tag(exp.experiment_id, SHARE_TAG + SHARE_KEY, view)
        out.append((exp.experiment_id, exp.name, parents[0].info.run_id))
    return out


def _incomplete_mlflow_schema(engine) -> bool:
    """Whether this database holds a part of MLflow's schema whose creation was cut short (some tables, or all of
    them below the newest revision) and nothing worth keeping: no run and no experiment but the default one."""
    import sqlalchemy
    from mlflow.store.db.base_sql_model import Base
    from mlflow.store.db.utils import _get_latest_schema_revision, _get_schema_version

    tables = set(sqlalchemy.inspect(engine).get_table_names())
    ours = tables & (set(Base.metadata.tables) | {"alembic_version"})
    if not ours or (set(Base.metadata.tables) <= tables and _get_schema_version(engine) == _get_latest_schema_revision()):
        return False  # a new database, or a complete store
    with engine.connect() as con:
        for table, keep in (("runs", "1 = 1"), ("experiments", "experiment_id <> 0")):
            if table in tables and con.execute(sqlalchemy.text(f"select count(*) from {table} where {keep}")).scalar():
                return False  # a store with results: an older schema MLflow upgrades itself, never dropped here
    return True


def redo_interrupted_creation(uri: str) -> bool:
    """Under ``creation_lock``: drop the remains of an MLflow schema creation that a killed process left (SIGKILL
    between two of its statements), so the caller creates the store again instead of failing for ever with
    "table ... already exists". Returns whether it did; a store holding any run is never touched."""
    if not (sqlite_path(uri) or uri.startswith("postgresql")):
        return False
    if (db := sqlite_path(uri)) is not None and not db.exists():
        return False
    import sqlalchemy
    from mlflow.store.db.base_sql_model import Base
    from sqlalchemy.pool import NullPool

    engine = sqlalchemy.create_engine(uri, poolclass=NullPool)
    try:
        if not _incomplete_mlflow_schema(engine):
            return False
        Base.metadata.drop_all(engine)
        with engine.begin() as con:
            con.execute(sqlalchemy.text("drop table if exists alembic_version"))
        return True
    finally:
        engine.dispose()


def has_experiment(uri: str | None, name: str) -> bool:
    """Whether the store at ``uri`` holds experiment ``name``; looks without creating it (a Tracker creates its
    experiment when it opens one)."""
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    from mlflow.tracking import MlflowClient

    _quiet()
    return _retry(MlflowClient(tracking_uri=uri or default_uri()).get_experiment_by_name, name) is not None


class Tracker:
    def __init__(self, uri: str | None = None, experiment: str = "standard") -> None:
        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
        import mlflow
        from mlflow.tracking import MlflowClient

        _quiet()  # after the import: mlflow configures its own loggers when imported

        self.mlflow = mlflow
        self.uri = uri or default_uri()
        check_uri(self.uri, "--tracking-uri" if uri else "MLFLOW_TRACKING_URI" if os.environ.get("MLFLOW_TRACKING_URI") else "--tracking-uri")
        with creation_lock(self.uri):  # the first contact creates or upgrades the schema: once at a time
            if redo_interrupted_creation(self.uri):
                print(f"{self.uri}: its creation had been interrupted (no run in it); created again", file=sys.stderr)
            self.client = MlflowClient(tracking_uri=self.uri)
            self._open_experiment(experiment)

    def _open_experiment(self, experiment: str) -> None:
        exp = _retry(self.client.get_experiment_by_name, experiment)
        if exp is None:
            location = None
            if self.uri.startswith("sqlite:"):
                location = (artifact_root(self.uri) / experiment).as_uri()
            try:
                self.experiment_id = _retry(self.client.create_experiment, experiment, artifact_location=location)
            except Exception:  # created concurrently by another process
                self.experiment_id = _retry(self.client.get_experiment_by_name, experiment).experiment_id
        else:
            self.experiment_id = exp.experiment_id
        self.experiment = experiment
        if exp is None or exp.tags.get(KIND_TAG) != KIND:
            # MLflow 3's UI opens such an experiment on its runs table, not on the empty GenAI overview
            try:
                _retry(self.client.set_experiment_tag, self.experiment_id, KIND_TAG, KIND)
            except Exception:  # two processes on a new server store tag it at once (a duplicate key on PostgreSQL)
                tags = _retry(self.client.get_experiment, self.experiment_id).tags
                if tags.get(KIND_TAG) != KIND:
                    raise

    # -- runs --------------------------------------------------------------------
    def start(self, name: str, params: dict[str, str], tags: dict[str, str]) -> str:
        from mlflow.entities import Param, RunTag

        run = _retry(self.client.create_run, self.experiment_id, run_name=name, tags=tags)
        rid = run.info.run_id
        items = [Param(k, str(v)[:6000]) for k, v in params.items()]
        for i in range(0, len(items), 100):
            _retry(self.client.log_batch, rid, params=items[i : i + 100])
        _retry(self.client.log_batch, rid, tags=[RunTag("mlflow.runName", name)])
        return rid

    def log_metrics(self, run_id: str, metrics: dict[str, float], step: int) -> None:
        from mlflow.entities import Metric

        ts = int(time.time() * 1000)
        ms = [Metric(k, float(v), ts, step) for k, v in metrics.items() if v is not None]
        _retry(self.client.log_batch, run_id, metrics=ms)

    def metric_history(self, run_id: str, key: str) -> list[tuple[int, float]]:
        """``(step, value)`` of every logged value of one metric."""
        return [(m.step, m.value) for m in _retry(self.client.get_metric_history, run_id, key)]

    def set_tags(self, run_id: str, tags: dict[str, str]) -> None:
        from mlflow.entities import RunTag

        _retry(self.client.log_batch, run_id, tags=[RunTag(k, str(v)) for k, v in tags.items()])

    def log_artifact(self, run_id: str, path: str | Path) -> None:
        _retry(self.client.log_artifact, run_id, str(path))

    def log_json(self, run_id: str, obj: Any, name: str, folder: str | None = None) -> None:
        with tempfile.TemporaryDirectory() as d:
            p = Path(d) / name
            p.write_text(json.dumps(obj, indent=2, sort_keys=True, default=str))
            _retry(self.client.log_artifact, run_id, str(p), folder)

    def json_artifacts(self, run_id: str, folder: str) -> list[Any]:
        """Every JSON file a run holds in an artifact folder (none: an empty list)."""
        try:
            infos = self.client.list_artifacts(run_id, folder)
        except Exception:
            return []
        return [self.load_json_artifact(run_id, i.path) for i in infos if i.path.endswith(".json")]

    def log_text(self, run_id: str, text: str, name: str) -> None:
        with tempfile.TemporaryDirectory() as d:
            p = Path(d) / name
            p.write_text(text)
            self.log_artifact(run_id, p)

    def end(self, run_id: str, status: str) -> None:
        _retry(self.client.set_terminated, run_id, status)

    def reopen(self, run_id: str) -> bool:
        """Mark an interrupted run RUNNING again to continue it; False if it is gone."""
        try:
            run = _retry(self.client.get_run, run_id)
        except Exception:
            return False
        if run.info.lifecycle_stage != "active":
            return False
        _retry(self.client.update_run, run_id, status="RUNNING")
        if "error" in run.data.tags:  # the interruption's reason is history once the run continues
            _retry(self.client.delete_tag, run_id, "error")
        return True

    def _search(self, ids: list[str], filter_string: str = "", order_by: list[str] | None = None,
                limit: int | None = None) -> Iterator[Any]:
        """Every matching run, page by page (``PAGE_SIZE``) to the end: no store size silently truncates a search."""
        token, seen = None, 0
        while True:
            size = PAGE_SIZE if limit is None else min(PAGE_SIZE, limit - seen)
            page = _retry(self.client.search_runs, ids, filter_string=filter_string, max_results=size,
                          order_by=order_by, page_token=token)
            yield from page
            seen += len(page)
            token = page.token
            if not token or not page or (limit is not None and seen >= limit):
                return

    def runs_by_key(self, keys: Collection[str] | None = None, status: str | None = None) -> dict[str, list]:
        """Runs of this experiment by their ``config_key`` tag, newest first (``status``: only those).

        With ``keys`` (a grid's configuration keys) only those are looked up: one indexed
        query per key for a grid of up to ``KEY_QUERIES`` cells, else one paged pass that
        keeps only the grid's runs, so the check does not load the whole store."""
        where = f"attributes.status = '{status}'" if status else ""
        newest = ["attributes.start_time DESC"]
        out: dict[str, list] = {}
        if keys is not None and len(keys) <= KEY_QUERIES:
            for k in keys:
                found = list(self._search([self.experiment_id], " and ".join(filter(None, [where, f"tags.config_key = '{k}'"])), newest))
                if found:
                    out[k] = found
            return out
        for r in self._search([self.experiment_id], where, newest):
            k = r.data.tags.get("config_key", "")
            if keys is None or k in keys:
                out.setdefault(k, []).append(r)
        return out

    def finished_by_key(self, keys: Collection[str] | None = None) -> dict[str, Any]:
        """The newest FINISHED run of each configuration key (of ``keys`` only, when given)."""
        return {k: rs[0] for k, rs in self.runs_by_key(keys, "FINISHED").items()}

    def download(self, run_id: str, name: str, folder: str | Path) -> Path:
        """One artifact of a run into ``folder`` (created: older MLflow versions require it to exist)."""
        Path(folder).mkdir(parents=True, exist_ok=True)
        return Path(_retry(self.client.download_artifacts, run_id, name, str(folder)))

    def load_json_artifact(self, run_id: str, name: str) -> Any:
        with tempfile.TemporaryDirectory() as d:
            path = _retry(self.client.download_artifacts, run_id, name, d)
            return json.loads(Path(path).read_text())

    def grid_parent(self, grid_key: str, name: str, tags: dict[str, str]) -> str:
        """The parent run of a grid (the same for every shard and every rerun of one grid),
        reopened if it exists; the grid's runs are nested under it."""
        with creation_lock(self.uri):  # two shards starting together find or start one parent, not one each
            runs = self.runs(filter_string=f"tags.grid_key = '{grid_key}' and tags.grid_parent = '1'")
            if runs and self.reopen(runs[0].info.run_id):
                self.set_tags(runs[0].info.run_id, tags)
                return runs[0].info.run_id
            return self.start(name, {}, {"grid_key": grid_key, "grid_parent": "1", **tags})

    # -- queries -----------------------------------------------------------------
    def runs(self, experiment: str | None = None, filter_string: str = "") -> list:
        exp = self.client.get_experiment_by_name(experiment) if experiment else None
        ids = [exp.experiment_id] if exp else [self.experiment_id]
        return list(self._search(ids, filter_string))
