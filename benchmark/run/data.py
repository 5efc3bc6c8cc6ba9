"""Load each dataset once per process (the suite says what identifies it)."""
from __future__ import annotations

from typing import Any

from ..suites import get_suite


class DataCache:
    def __init__(self) -> None:
        self._data: dict[tuple, Any] = {}

    def get(self, spec) -> Any:
        suite = get_suite(spec.suite)
        key = (spec.suite, *suite.data_key(spec))
        if key not in self._data:
            self._data[key] = suite.load(spec)
        return suite.view(spec, self._data[key])

    def check(self, specs) -> None:
        """Load every dataset of ``specs`` and check that each run fits its data, before
        any MLflow run exists (raises ``datasets.DataError`` or ValueError, one line)."""
        seen = set()
        for s in specs:
            data = self.get(s)
            key = (s.suite, s.dataset, s.data_root, s.ways, s.shots, s.queries)
            if key not in seen:
                seen.add(key)
                get_suite(s.suite).check(s, data)
