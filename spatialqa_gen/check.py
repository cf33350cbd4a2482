"""Re-reads a written shard and checks it: every answer parses back to the fact row it came from (the
value it states, and which object it says is higher), every conversation turn is the one the facts
table records, every record passes the contract."""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow.parquet as pq

from pipeline.records import IMAGE_TOKEN, check_record, exists_under
from spatialqa_gen.qa import parse_answer, parse_order


@dataclass
class ShardCheck:
    records: int = 0
    turns: int = 0
    contract: Counter = field(default_factory=Counter)       # rejection reason -> records
    mismatches: list[str] = field(default_factory=list)      # answers that do not state their fact

    @property
    def ok(self) -> bool:
        return not self.contract and not self.mismatches


def _same(parsed: float, said: float | None) -> bool:
    return said is not None and math.isclose(parsed, said, rel_tol=1e-9, abs_tol=1e-9)


def check_shard(conversations: Path, facts: Path, data_root: Path, max_listed: int = 20) -> ShardCheck:
    rep = ShardCheck()
    exists = exists_under(data_root)
    turns_by_record: dict[str, list[dict]] = {}
    for row in pq.read_table(conversations).to_pylist():
        rep.records += 1
        rejection = check_record(row["image"], row["conversations"], exists)
        if rejection is not None:
            rep.contract[rejection.reason] += 1
        turns_by_record[row["id"]] = row["conversations"]
    for f in pq.read_table(facts).to_pylist():
        rep.turns += 1
        where = f"{f['record_id']} turn {f['turn']} ({f['category']})"
        conv = turns_by_record.get(f["record_id"])
        i = 2 * f["turn"]
        if conv is None or i + 1 >= len(conv) or conv[i + 1]["value"] != f["answer"] or \
                conv[i]["value"].removeprefix(IMAGE_TOKEN + "\n") != f["question"]:
            rep.mismatches.append(f"{where}: not the conversation's turn")
            continue
        try:
            parsed = parse_answer(f["category"], f["answer"], f["object_a"], f["object_b"] or "")
        except ValueError as err:
            rep.mismatches.append(f"{where}: {err}")
            continue
        if not _same(parsed, f["said"]):
            rep.mismatches.append(f"{where}: answer states {parsed}, facts say {f['said']}")
            continue
        order = parse_order(f["answer"], f["object_a"], f["object_b"] or "")
        if order != f["order"]:
            rep.mismatches.append(f"{where}: answer orders the objects {order}, facts say {f['order']}")
    del rep.mismatches[max_listed:]
    return rep
