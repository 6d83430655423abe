"""What a non-cycle finding is: a small typed record that explains itself.

A checker's anomaly cases (checkers/list_append_cases.py, checkers/rw_register_cases.py) return
records of the types below; the checker keeps the first few of each kind, then asks each kept
record which txns it involves (to fetch their ops) and for its result instance. A new anomaly
is one record type next to its case function: no tuple layout decoded elsewhere.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar


@dataclass(frozen=True, slots=True)
class Finding:
    """One instance of an anomaly. Subclasses set `kind` (the result's anomaly name), hold the
    key and whatever their explanation needs, name `txn_fields` (or override `txns`) and implement
    `text`."""
    kind: ClassVar[str] = ""
    # whether explanations cite the read that shows the key's version order (its reader is
    # fetched along with `txns`)
    cites_order: ClassVar[bool] = False

    # the fields holding the ids of the txns it involves (their ops are fetched for the result)
    txn_fields: ClassVar[tuple] = ()

    @property
    def txns(self) -> list:
        return [getattr(self, f) for f in self.txn_fields]

    def text(self, ex) -> str:
        """The explanation in plain words; `ex` is the checker's TxnExplainer (names txns)."""
        raise NotImplementedError

    def explain(self, ex) -> dict:
        """The result instance: the ops of its txns (`ex` gives them once fetched), key, words."""
        return {"ops": [ex.op(t) for t in self.txns], "key": self.key, "explanation": self.text(ex)}
