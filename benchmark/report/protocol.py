"""``python -m benchmark list --protocol PROFILE``: every protocol element of a built-in
profile, generated from the resolved plan (what would run), with each deliberate
deviation from the paper marked beside the paper's value and source."""
from __future__ import annotations

from ..plan import Overrides, build_plan
from ..suites import SUITES, get_suite
from ..suites.deviations import for_profile


def suites_with(profile: str) -> list[str]:
    return [name for name, s in SUITES.items() if profile in s.profiles]


def record(profile: str, suite_name: str | None = None) -> str:
    names = [suite_name] if suite_name else suites_with(profile)
    if not names:
        valid = sorted({p for s in SUITES.values() for p in s.profiles})
        raise ValueError(f"unknown profile {profile!r}; valid: {', '.join(valid)}")
    return "\n\n".join(_record(get_suite(n), profile) for n in names)


def _record(suite, profile: str) -> str:
    specs = build_plan(suite.name, profile, Overrides())
    deviations = for_profile(suite.name, profile)
    lines = [f"Protocol of --suite {suite.name} --profile {profile} (generated from the code; "
             "[!] a deliberate deviation from the paper, [=] a decision where the sources are silent or disagree)", ""]
    seen = set()
    for spec in specs:
        key = (spec.dataset, spec.model, spec.algorithm, spec.setting)
        if key in seen:
            continue
        seen.add(key)
        lines.append(" / ".join(x for x in (spec.dataset, spec.model, spec.algorithm, spec.setting) if x) + f"  (seeds {_seeds(specs, key)})")
        width = max(len(k) for k in suite.protocol_elements(spec))
        lines += [f"  {k:<{width}}  {v}" for k, v in suite.protocol_elements(spec).items()]
        for d in deviations:
            if not d.algorithms or spec.algorithm in d.algorithms:
                mark = "[=]" if d.decided else "[!]"
                lines.append(f"  {mark} {d.element}: paper {d.paper} ({d.source}); here: {d.why}")
        lines.append("")
    return "\n".join(lines).rstrip()


def _seeds(specs, key) -> str:
    return " ".join(str(s.seed) for s in specs if (s.dataset, s.model, s.algorithm, s.setting) == key)
