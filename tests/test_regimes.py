"""Regimes: the forward filter is resumable, never looks ahead, equals the forward recursion of
the fitted HMM, and the fit / walk-forward / command / benchmark work on planted markets."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cryptosignals.fitted import add_fitted
from cryptosignals.regimes import (
    RegimeFilter,
    RegimeModel,
    RegimeOutput,
    filter_regimes,
    model_for,
    regime_features,
)
from cryptosignals.synthetic import regime_market

ROOT = Path(__file__).resolve().parents[1]

PLANTED = regime_market(days=12, seed=5)
END, CLOSE = PLANTED.end, PLANTED.candles.close

MODEL = RegimeModel(
    names=("calm", "normal", "turbulent"),
    startprob=(0.6, 0.3, 0.1),
    transmat=((0.98, 0.015, 0.005), (0.01, 0.98, 0.01), (0.005, 0.015, 0.98)),
    means=((0.0, 2.2), (0.1, 2.7), (-0.2, 3.3)),
    variances=((100.0, 0.05), (300.0, 0.05), (900.0, 0.08)),
    half_life=6.0,
    switch_prob=0.7,
    switch_bars=4,
)


def _same(a: RegimeOutput, b: RegimeOutput) -> None:
    np.testing.assert_array_equal(a.end, b.end)
    np.testing.assert_array_equal(a.probabilities, b.probabilities)  # NaN == NaN here, exactly
    np.testing.assert_array_equal(a.raw, b.raw)
    np.testing.assert_array_equal(a.label, b.label)


WHOLE = filter_regimes(MODEL, END, CLOSE)


def test_the_planted_series_reaches_every_state_so_the_properties_below_bite() -> None:
    assert set(np.unique(WHOLE.raw)) == {-1, 0, 1, 2}
    assert len(np.unique(WHOLE.label)) == 4
    assert (np.diff(WHOLE.label[WHOLE.label >= 0]) != 0).sum() > 5


@settings(max_examples=25, deadline=None)
@given(cuts=st.lists(st.integers(0, len(END)), max_size=10), via_json=st.booleans())
def test_any_chunking_gives_the_whole_series_output_bit_for_bit(
    cuts: list[int], via_json: bool
) -> None:
    bounds = [0, *sorted(cuts), len(END)]
    filt = RegimeFilter(MODEL)
    parts = []
    for lo, hi in itertools.pairwise(bounds):
        parts.append(filt.update(END[lo:hi], CLOSE[lo:hi]))
        if via_json:  # a new container resuming from the stored state
            filt = RegimeFilter(MODEL, json.loads(json.dumps(filt.to_json())))
    _same(RegimeOutput.concat(parts, MODEL.n_states), WHOLE)


@settings(max_examples=10, deadline=None)
@given(t=st.integers(1, len(END) - 1), seed=st.integers(0, 2**16))
def test_later_bars_never_change_an_earlier_output(t: int, seed: int) -> None:
    future = CLOSE.copy()
    future[t:] *= np.exp(np.random.default_rng(seed).normal(0, 0.05, len(END) - t).cumsum())
    _same(filter_regimes(MODEL, END[:t], CLOSE[:t]), filter_regimes(MODEL, END[:t], future[:t]))
    changed = filter_regimes(MODEL, END, future)
    prefix = RegimeOutput(*(getattr(changed, c)[:t] for c in ("end", "probabilities", "raw",
                                                               "label")))  # fmt: skip
    _same(prefix, filter_regimes(MODEL, END[:t], CLOSE[:t]))


def test_filtered_probability_at_t_is_hmmlearns_posterior_on_the_prefix_up_to_t() -> None:
    """predict_proba on X[:t+1] smooths over that prefix only, so its last row is the filtered
    probability at t; the same call on the whole series (look-ahead) differs."""
    hmm_module = pytest.importorskip("hmmlearn.hmm")
    x = regime_features(END, CLOSE, MODEL.half_life)
    ready = np.flatnonzero(~np.isnan(x[:, 0]))
    hmm = hmm_module.GaussianHMM(n_components=3, covariance_type="diag")
    hmm.startprob_ = np.array(MODEL.startprob)
    hmm.transmat_ = np.array(MODEL.transmat)
    hmm.means_ = np.array(MODEL.means)
    hmm.covars_ = np.array(MODEL.variances)
    xs = x[ready]
    checked = np.random.default_rng(0).choice(len(xs), 20, replace=False)
    for t in checked:
        filtered = hmm.predict_proba(xs[: t + 1])[-1]
        np.testing.assert_allclose(WHOLE.probabilities[ready[t]], filtered, atol=1e-9)
    smoothed = hmm.predict_proba(xs)  # the whole sequence: the future moves the past
    assert np.abs(smoothed - WHOLE.probabilities[ready]).max() > 0.5
    assert np.isnan(WHOLE.probabilities[: ready[0]]).all() and (WHOLE.label[: ready[0]] == -1).all()
    assert ready[0] == MODEL.warmup


def test_the_label_switches_only_after_switch_bars_confident_bars() -> None:
    model = RegimeModel(
        names=("calm", "turbulent"), startprob=(1.0, 0.0), transmat=((0.99, 0.01), (0.01, 0.99)),
        means=((0.0, 2.3), (0.0, 3.4)), variances=((100.0, 0.1), (900.0, 0.1)), half_life=1.0,
        switch_prob=0.8, switch_bars=5,
    )  # fmt: skip
    output = filter_regimes(model, END, CLOSE)
    ready = output.label >= 0
    raw, label = output.raw[ready], output.label[ready]
    p = output.probabilities[ready]
    confident = p[np.arange(len(raw)), raw] >= 0.8
    for i in np.flatnonzero(np.diff(label) != 0) + 1:
        window = slice(i - 4, i + 1)
        assert (raw[window] == label[i]).all() and confident[window].all()
    assert (np.diff(label) != 0).sum() < (np.diff(raw) != 0).sum()


def test_a_model_is_plain_json_and_bad_parameters_say_what_is_wrong() -> None:
    text = json.dumps(MODEL.to_json())
    assert RegimeModel.from_json(json.loads(text)) == MODEL
    good = MODEL.to_json()
    for change, message in (
        ({"transmat": [[0.5, 0.5, 0.1], [0, 1, 0], [0, 0, 1]]}, "transmat row 0 must sum to 1"),
        ({"variances": [[1, 1], [1, 0], [1, 1]]}, "variances must be positive"),
        ({"means": [[0, 1], [0, 1]]}, "means must be 3 x 2"),
        ({"names": ["a", "a", "b"]}, "names must be distinct"),
        ({"switch_bars": 0}, "switch_bars must be an integer >= 1"),
        ({"features": ["return_bp"]}, "features must be"),
        ({"colour": "red"}, "unknown field(s) colour"),
    ):
        with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
            RegimeModel.from_json({**good, **change})
    with pytest.raises(ValueError, match="strictly"):
        RegimeFilter(MODEL).update(END[[0, 2, 1]], CLOSE[:3])
    filt = RegimeFilter(MODEL)
    filt.update(END[:5], CLOSE[:5])
    with pytest.raises(ValueError, match="strictly"):
        filt.update(END[4:6], CLOSE[4:6])  # a bar seen already
    with pytest.raises(ValueError, match="positive"):
        RegimeFilter(MODEL).update(END[:2], [1.0, -1.0])


def test_the_stream_state_is_small_and_the_stream_imports_no_training_library() -> None:
    filt = RegimeFilter(MODEL)
    filt.update(END, CLOSE)
    assert len(json.dumps(filt.to_json())) < 512
    code = ("import sys, cryptosignals.regimes; bad = {'hmmlearn', 'sklearn', 'scipy', "
            "'arch'} & set(sys.modules); print(sorted(bad))")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_with_model_carries_the_state_to_a_refit_with_the_same_states() -> None:
    filt = RegimeFilter(MODEL)
    filt.update(END[:1000], CLOSE[:1000])
    refit = RegimeModel.from_json({**MODEL.to_json(), "switch_bars": 6})
    carried = filt.with_model(refit)
    assert carried.to_json() == filt.to_json()
    two = RegimeModel(names=("calm", "turbulent"), startprob=(0.5, 0.5),
                      transmat=((0.9, 0.1), (0.1, 0.9)), means=((0, 2), (0, 3)),
                      variances=((1, 1), (1, 1)), half_life=6.0)  # fmt: skip
    changed = filt.with_model(two).to_json()
    assert changed["p"] == [0.5, 0.5] and changed["label"] == -1
    assert changed["s"] == filt.to_json()["s"]  # the features carry on
    output = filt.with_model(two).update(END[1000:1010], CLOSE[1000:1010])
    assert (output.label >= 0).all()


def test_fit_orders_states_by_volatility_whatever_the_seed() -> None:
    pytest.importorskip("hmmlearn")
    from cryptosignals.models.regimes import fit_regimes

    market = regime_market(days=10, seed=11)
    fits = [fit_regimes(market.end, market.candles.close, n_states=(2,), restarts=1, seed=s)
            for s in (0, 1)]  # fmt: skip
    for model in fits:
        assert model.names == ("calm", "turbulent")
        vol = np.sqrt(np.array(model.variances)[:, 0])
        assert 8 < vol[0] < 12 and 24 < vol[1] < 36  # planted: 10 and 30 bp per bar
        assert model.fitted_on == (int(market.end[model.warmup]), int(market.end[-1]))
    np.testing.assert_allclose(fits[0].means, fits[1].means, rtol=0.05, atol=0.05)


@pytest.mark.slow
def test_walk_forward_labels_bars_with_fits_that_never_saw_them() -> None:
    pytest.importorskip("hmmlearn")
    from cryptosignals.models.regimes import walk_forward_regimes

    market = regime_market(days=14, seed=3)
    end, close = market.end, market.candles.close
    options = {"train_days": 6, "refit_days": 3, "n_states": (2,), "restarts": 1}
    wf = walk_forward_regimes(end, close, **options)
    assert len(wf.models) == 3
    for model, start in zip(wf.models, wf.starts, strict=True):
        assert model.fitted_on is not None and model.fitted_on[1] < start
    labelled = wf.output.label >= 0
    assert not labelled[end < wf.starts[0]].any() and labelled[end >= wf.starts[0]].all()
    truth = market.turbulent[labelled]
    assert (np.asarray(wf.output.label[labelled] == 1) == truth).mean() > 0.85
    cut = int(np.searchsorted(end, wf.starts[1]))
    later = close.copy()
    later[cut:] *= 1.5  # a different future
    again = walk_forward_regimes(end, later, **options)
    np.testing.assert_array_equal(again.output.label[:cut], wf.output.label[:cut])
    np.testing.assert_array_equal(again.output.probabilities[:cut],
                                  wf.output.probabilities[:cut])  # fmt: skip


def _cli(*args: str, block_hmmlearn: bool = False) -> subprocess.CompletedProcess[str]:
    prelude = "import sys, runpy\n"
    if block_hmmlearn:  # as if the models extra were not installed
        prelude += "sys.modules['hmmlearn'] = sys.modules['hmmlearn.hmm'] = None\n"
    code = (prelude + f"sys.argv = ['cryptosignals', *{list(args)!r}]\n"
            "runpy.run_module('cryptosignals', run_name='__main__')\n")  # fmt: skip
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300, cwd=ROOT)  # fmt: skip


@pytest.mark.slow
def test_the_command_labels_every_bar_after_the_first_window_and_its_fit_serves_the_stream(
    tmp_path: Path,
) -> None:
    pytest.importorskip("hmmlearn")
    fit = tmp_path / "fit.json"
    walk = ("regimes", "--coin", "cardano", "--states", "2", "--train-days", "9",
            "--refit-days", "6")  # fmt: skip
    result = _cli(*walk, "--format", "csv", "--fit-out", str(fit))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == ("timestamp,regime,regime_vol_rank,n_regimes,p_calm,p_turbulent")
    rows = [line.split(",") for line in lines[1:]]
    times = np.array([int(r[0]) for r in rows])
    assert len(rows) > 3000 and (np.diff(times) == 300).all()  # 12 of the sample's 21 days
    for r in rows:
        assert r[1] == ("calm", "turbulent")[int(r[2])] and r[3] == "2"
        assert abs(float(r[4]) + float(r[5]) - 1) < 1e-9
    assert {r[1] for r in rows} == {"calm", "turbulent"}
    served = _cli("regimes", "--coin", "ethereum", "--models", str(fit), "--format", "json")
    assert served.returncode == 0, served.stderr  # ethereum has none: the file's default serves
    document = json.loads(served.stdout)
    assert document["regimes"] == ["calm", "turbulent"]
    models = json.loads(fit.read_text())
    assert (
        models["default"] == "cardano"
        and document["model"] == models["coins"]["cardano"]["regimes"]
    )
    assert len(document["rows"]) > len(rows)  # a given model labels from the warm-up on
    assert model_for("cardano", fit) == RegimeModel.from_json(document["model"])
    table = _cli(*walk)
    assert table.returncode == 0 and "Latest regime spans" in table.stdout, table.stderr


def test_the_command_says_how_to_get_hmmlearn_and_rejects_a_bad_model(tmp_path: Path) -> None:
    result = _cli("regimes", "--coin", "bitcoin", block_hmmlearn=True)
    assert result.returncode == 2, result.stderr
    assert "pip install 'cryptosignals[models]'" in result.stderr
    assert "Traceback" not in result.stderr
    bad = tmp_path / "model.json"
    add_fitted(bad, "bitcoin", "regimes",
               {**MODEL.to_json(), "variances": [[1, 1], [1, -1], [1, 1]]})  # fmt: skip
    result = _cli("regimes", "--coin", "bitcoin", "--models", str(bad), block_hmmlearn=True)
    assert result.returncode == 2 and "variances must be positive" in result.stderr
    good = tmp_path / "good.json"
    add_fitted(good, "bitcoin", "regimes", MODEL.to_json())
    result = _cli("regimes", "--coin", "bitcoin", "--models", str(good), "--format", "csv",
                  block_hmmlearn=True)  # fmt: skip
    assert result.returncode == 0, result.stderr  # the stream side needs no training library
    assert result.stdout.startswith("timestamp,regime,regime_vol_rank,n_regimes,p_calm,")


@pytest.mark.slow
def test_the_benchmark_runs_small_and_its_figures_hang_together(tmp_path: Path) -> None:
    pytest.importorskip("hmmlearn")
    data = ROOT.parent / "shared" / "data" / "market"
    figures = tmp_path / "regimes.json"
    args = ["--seeds", "1", "--days", "30", "--train-days", "15", "--boot", "100",
            "--json", str(figures)]  # fmt: skip
    if (data / "bitcoin_5m.csv.gz").exists():
        args += ["--data", str(data), "--coins", "bitcoin", "--real-days", "53"]
    else:
        args += ["--data", str(tmp_path)]  # no real coins: the planted part and the cost only
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "regimes.py"), *args],
                            cwd=ROOT, capture_output=True, text=True, timeout=600)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    out = json.loads(figures.read_text())
    pooled = out["planted"]["pooled"]
    assert set(pooled) >= {"filter", "filter argmax", "viterbi", "adx14", "bbw20, confirmed"}
    assert pooled["filter"]["accuracy"] > 0.8 and pooled["filter"]["onsets"] > 0
    assert pooled["filter"]["switch_ratio"] < pooled["filter argmax"]["switch_ratio"]
    assert out["stream"]["state_bytes"] < 1024 and out["stream"]["update_us"] < 1000
    if "weekend" in out:
        assert abs(sum(out["weekend"]["weekday"]) - 1) < 1e-9
        (crash,) = out["episodes"]
        first = crash["methods"]["filter"]["first_flag"]
        assert first is not None and 1_743_624_000 <= first <= 1_744_243_200  # 04-02 20h..04-10
