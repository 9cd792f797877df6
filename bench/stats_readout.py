"""Analysing an experiment's readout: 20 metrics x 3 variations (two treatments against the
control, each comparison a Welch t-test, plus the SRM check and Holm's correction), with
productops' stats engine and with gbstats on the same aggregates, in the same run.

gbstats pins numpy<2 and pandas<2, so it runs in a venv of its own, which the first run makes
(`~/.cache/productops/gbstats-0.8.0`, pip install gbstats==0.8.0 from PyPI):

    .venv/bin/python bench/stats_readout.py [--gbstats-python PATH] [--repeats 50]

gbstats is timed in its own process with its fastest public path (the TwoSidedTTest class on
SampleMeanStatistic / ProportionStatistic, and check_srm; no pandas), on the same aggregates;
the answers are compared too. The floor of issue 10 is at least 5x faster.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from productops.experiments import stats

GBSTATS_SCRIPT = r"""
import json, sys, time, statistics
from gbstats.frequentist.tests import TwoSidedTTest, FrequentistConfig
from gbstats.models.statistics import SampleMeanStatistic, ProportionStatistic
from gbstats.utils import check_srm

data = json.load(sys.stdin)
def stat(d):
    if d["type"] == "proportion":
        return ProportionStatistic(n=d["n"], sum=d["sum"])
    return SampleMeanStatistic(n=d["n"], sum=d["sum"], sum_squares=d["sum_squares"])

def run():
    out = []
    for name, arms in data["metrics"].items():
        a = stat(arms[0])
        for b in arms[1:]:
            config = FrequentistConfig(difference_type="relative")
            r = TwoSidedTTest(a, stat(b), config).compute_result()
            out.append([r.expected, r.ci[0], r.ci[1], r.p_value])
    out.append(check_srm(data["users"], data["weights"]))
    return out

times = []
for _ in range(data["repeats"]):
    s = time.perf_counter(); result = run(); times.append(time.perf_counter() - s)
print(json.dumps({"median_s": statistics.median(times), "min_s": min(times), "result": result}))
"""


def aggregates(seed: int = 3) -> dict[str, Any]:
    rng = random.Random(seed)
    users = [rng.randint(9000, 11000) for _ in range(3)]
    metrics: dict[str, list[dict[str, Any]]] = {}
    for m in range(20):
        arms = []
        for n in users:
            if m % 2:
                p = 0.1 + 0.01 * rng.random()
                arms.append({"type": "proportion", "sum": int(n * p), "n": n})
            else:
                mean, sd = 20 + rng.random(), 8
                arms.append(
                    {
                        "type": "mean",
                        "n": n,
                        "sum": mean * n,
                        "sum_squares": (sd**2) * (n - 1) + (mean * n) ** 2 / n,
                    }
                )
        metrics[f"metric_{m:02d}"] = arms
    return {"metrics": metrics, "users": users, "weights": [1 / 3] * 3}


def ours(data: dict[str, Any]) -> stats.Readout:
    return stats.analyse(
        data["metrics"], users=data["users"], weights=data["weights"], correction="holm"
    )


GBSTATS_VENV = Path.home() / ".cache" / "productops" / "gbstats-0.8.0"


def make_gbstats_venv() -> None:
    """gbstats in a venv of its own (it pins numpy<2 and pandas<2)."""
    print(f"  (making {GBSTATS_VENV} with gbstats 0.8.0 from PyPI, once)", flush=True)
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", str(GBSTATS_VENV)], check=True)
    subprocess.run(
        [str(GBSTATS_VENV / "bin" / "pip"), "install", "-q", "gbstats==0.8.0"], check=True
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--gbstats-python",
        default=str(GBSTATS_VENV / "bin" / "python"),
        help="a Python with gbstats 0.8.0 (made in its own venv when it is the default)",
    )
    parser.add_argument("--repeats", type=int, default=50)
    args = parser.parse_args()
    data = aggregates()
    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        readout = ours(data)
        times.append(time.perf_counter() - start)
    ours_median = statistics.median(times)
    print(
        f"20 metrics x 3 variations ({len(data['metrics']) * 2} comparisons + SRM + Holm), "
        f"median of {args.repeats}:"
    )
    print(f"  productops stats.analyse   {ours_median * 1000:8.3f} ms")
    python = Path(args.gbstats_python)
    if not python.exists() and python == GBSTATS_VENV / "bin" / "python":
        make_gbstats_venv()
    if not python.exists():
        print(f"  gbstats: {python} is missing: give a Python with gbstats==0.8.0")
        return
    proc = subprocess.run(
        [str(python), "-c", GBSTATS_SCRIPT],
        input=json.dumps({**data, "repeats": args.repeats}),
        capture_output=True,
        text=True,
        check=True,
    )
    theirs = json.loads(proc.stdout)
    print(
        f"  gbstats 0.8.0 (reference)  {theirs['median_s'] * 1000:8.3f} ms   "
        "(its own process, same aggregates)"
    )
    ratio = theirs["median_s"] / ours_median
    print(
        f"  -> {ratio:.1f}x faster; floor (issue 10) at least 5x: {'yes' if ratio >= 5 else 'NO'}"
    )
    flat = [c for m in readout.metrics for c in m.comparisons]
    worst = 0.0
    for c, (e, lo, hi, p) in zip(flat, theirs["result"][:-1], strict=True):
        for x, y in ((c.expected, e), (c.ci[0], lo), (c.ci[1], hi), (c.p_value or 0, p)):
            if abs(x - y) > 1e-10:  # gbstats' 2*(1 - cdf) loses digits below that
                worst = max(worst, abs(x - y) / abs(y))
    srm_gap = abs(readout.srm_p_value - theirs["result"][-1]) / max(theirs["result"][-1], 1e-300)
    print(
        f"  same answers: largest relative difference {worst:.1e} (effects, intervals, "
        f"p-values), SRM {srm_gap:.1e}"
    )


if __name__ == "__main__":
    main()
