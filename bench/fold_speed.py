"""CPU time of the run page's fold (app.panes.RunView.apply) over 50k stored rows of four entries:
mostly coalesced text deltas, with spend reports, partial answers, notes and call states among
them, as storage.queries.events_since returns them. Prints the median and the least of 7 folds.

    .venv/bin/python bench/fold_speed.py
    # the same fold in another tree (an older commit unpacked with git archive):
    .venv/bin/python bench/fold_speed.py --root /tmp/older-tree
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[1], help="the tree to import")
parser.add_argument("--rows", type=int, default=50_000)
args = parser.parse_args()
sys.path.insert(0, str(args.root))

from app.panes import RunView  # noqa: E402
from reasoning.budget import Spend  # noqa: E402
from reasoning.events import CallState, Note, PartialAnswer, SpendUpdate, TextDelta, event_to_dict  # noqa: E402
from storage.queries import StoredEvent  # noqa: E402

rows = []
for seq in range(1, args.rows + 1):
    spent = Spend(input_tokens=seq, output_tokens=seq, calls=1)
    event = {0: SpendUpdate(spent), 1: PartialAnswer("4", 0.5, spent), 2: Note("votes", "4 x2", {"4": 2}),
             3: CallState(seq, "generating", spent)}.get(seq % 50, TextDelta(f"sample {seq % 7}", "some text " * 3))
    tokens = spent.total_tokens if seq % 50 in (0, 1, 3) else None
    rows.append(StoredEvent("r", seq, seq % 4, event.kind, getattr(event, "label", None), event_to_dict(event),
                            seq / 100, 0.0, tokens, 0.0))
times = []
for _ in range(7):
    start = time.process_time()
    RunView.for_strategies([("self_consistency", {})] * 4).apply(rows)
    times.append(time.process_time() - start)
print(f"fold of {len(rows):,} rows: median {statistics.median(times) * 1000:.0f} ms CPU, least "
      f"{min(times) * 1000:.0f} ms (load average {os.getloadavg()[0]:.2f})")
