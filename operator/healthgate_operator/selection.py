"""Which gates select a pod's labels, remembered while a namespace's gates stay the same.

The status rounds report, for every gate, the other gates selecting some of its pods
(``status.conflicts``). Asked afresh, that is every other gate's selector against this gate's
label sets: O(gates²) per namespace and round (1,000 gates in 10 namespaces: 100,000 selector
matches and 1,000 sorts of 100 gates every round), for an answer that changes only when a gate
or a workload's labels do. Here each distinct label set is matched against the namespace's
gates once, and the answer is kept until the gate cache publishes a new mapping for that
namespace (it never changes a published one: see :mod:`healthgate_operator.gatecache`), so a
steady round costs one lookup per label set.

The answer is :func:`healthgate_operator.builders.manifests.conflicts`' own, which stays the
definition (tests compare the two on varied inputs).
"""

from __future__ import annotations

import collections
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from healthgate_operator.builders import selectors
from healthgate_operator.kubetypes import Json

LabelSet = tuple[tuple[str, str], ...]
KEPT = 10_000  # label sets remembered per namespace; past that it starts over (nothing else)


@dataclass
class _Namespace:
    view: Mapping[str, Json]
    """The gate cache's mapping this memo was built from: a new one means gates changed."""
    gates: list[tuple[str, Json]]
    """(name, selector) of every gate, by name: the order conflicts are reported in."""
    selecting: dict[LabelSet, tuple[str, ...]] = field(default_factory=dict)


class Selection:
    """Per namespace, the gates (by name) whose selector matches each label set seen."""

    def __init__(self) -> None:
        self._namespaces: dict[str, _Namespace] = {}

    def selecting(
        self, namespace: str, view: Mapping[str, Json], labels: LabelSet
    ) -> tuple[str, ...]:
        """Names of the gates in ``view`` whose selector matches ``labels``, alphabetically."""
        memo = self._namespaces.get(namespace)
        if memo is None or memo.view is not view:
            ordered = sorted(view.values(), key=lambda g: str(g["metadata"]["name"]))
            gates = [
                (str(g["metadata"]["name"]), g.get("spec", {}).get("selector") or {})
                for g in ordered
            ]
            memo = self._namespaces[namespace] = _Namespace(view, gates)
        found = memo.selecting.get(labels)
        if found is None:
            if len(memo.selecting) >= KEPT:
                memo.selecting.clear()
            as_dict = dict(labels)
            found = tuple(name for name, sel in memo.gates if selectors.matches(sel, as_dict))
            memo.selecting[labels] = found
        return found

    def conflicts(
        self,
        namespace: str,
        view: Mapping[str, Json],
        name: str,
        pod_labels: Iterable[Mapping[str, str]],
    ) -> list[Json]:
        """:func:`~healthgate_operator.builders.manifests.conflicts` of gate ``name`` among the
        gates of ``view``: the other gates selecting some of its pods, and who wins."""
        distinct = collections.Counter(tuple(sorted(labels.items())) for labels in pod_labels)
        shared: collections.Counter[str] = collections.Counter()
        for labels, count in distinct.items():
            for other in self.selecting(namespace, view, labels):
                if other != name:
                    shared[other] += count
        return [
            {"gate": other, "pods": shared[other], "winner": min(name, other)}
            for other in sorted(shared)
        ]
