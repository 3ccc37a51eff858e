"""The predictive night: every fit's status and reason, predictions only from usable fits."""

import csv
import datetime as dt
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from lifetimes import BetaGeoFitter, GammaGammaFitter

from orchestration.cli import run_night
from orchestration.language import speaking
from orchestration.predictive.btyd import described, fit_bgnbd
from orchestration.predictive.nightly import PredictionSettings, predict_night
from orchestration.publishing.warehouse import published_night
from orchestration.reporting.nightly_report import fit_detail_text
from tests.conftest import night_fixture, query
from tests.test_btyd import simulate_bgnbd, simulate_spend

AS_OF = dt.date(2026, 6, 30)


def summary_and_days(
    frequency: np.ndarray, recency: np.ndarray, T: np.ndarray, monetary: np.ndarray
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """customer_rfm's BTYD columns and the purchase days behind them, as of AS_OF: the first
    purchase T days before it, repeats evenly up to recency, each day's amount the mean."""
    ids = [f"C{i:03d}" for i in range(frequency.size)]
    summary = pd.DataFrame(
        {
            "customer_id": ids,
            "btyd_frequency": frequency,
            "btyd_recency": recency,
            "btyd_t": T,
            "btyd_monetary": monetary,
        }
    )
    days = []
    for customer, x, t_x, age, m in zip(ids, frequency, recency, T, monetary, strict=True):
        first = AS_OF - dt.timedelta(days=int(age))
        days.append((customer, first, 100.0))
        for k in range(1, int(x) + 1):
            offset = int(t_x) if k == x else int(t_x * k / x)
            days.append((customer, first + dt.timedelta(days=offset), float(m)))
    purchase_days = pd.DataFrame(days, columns=["customer_id", "purchase_on", "amount_cny"])
    return summary, purchase_days


def fits_by_model(night) -> dict[str, dict]:
    return {row["model"]: row for row in night.fits.to_dict("records")}


def test_one_time_buyers_are_not_fitted_and_say_why():
    T = 30.0 + (np.arange(150) * 53) % 335
    zeros = np.zeros(150)
    night = predict_night(*summary_and_days(zeros, zeros, T, zeros), AS_OF)
    fits = fits_by_model(night)
    assert {model: row["status"] for model, row in fits.items()} == {
        "bg_nbd": "not_fitted",
        "gamma_gamma": "not_fitted",
        "bg_nbd_backtest": "not_fitted",
    }
    reason = "none of 150 buyers has a repeat purchase: dropout cannot be estimated"
    assert fits["bg_nbd"]["detail"] == reason
    assert fits["gamma_gamma"]["detail"] == (
        "0 repeat buyers with positive spend, fewer than min_customers=100"
    )
    # 150 - 90 = 60 days back: the buyers first seen 30..90 days ago are not in calibration.
    calibrating = int(np.sum(T > 90))
    assert fits["bg_nbd_backtest"]["detail"] == (
        f"none of {calibrating} buyers has a repeat purchase: dropout cannot be estimated"
    )
    # The same reasons as fields, which the report words in the operator's language.
    assert {model: json.loads(row["detail_fields"]) for model, row in fits.items()} == {
        "bg_nbd": {"reason": "no_repeat_buyers", "buyers": 150},
        "gamma_gamma": {
            "reason": "too_few_repeat_spenders",
            "repeat_buyers": 0,
            "min_customers": 100,
        },
        "bg_nbd_backtest": {"reason": "no_repeat_buyers", "buyers": calibrating},
    }
    assert pd.isna(fits["bg_nbd"]["parameters"])
    assert night.predictions.empty and night.backtest.empty


def test_few_repeat_buyers_predict_from_a_flagged_boundary_fit():
    T = 30.0 + (np.arange(150) * 53) % 335
    frequency, recency = np.zeros(150), np.zeros(150)
    frequency[:3], recency[:3] = 1, np.floor(T[:3] / 2)
    monetary = np.where(frequency > 0, 89.0, 0.0)
    night = predict_night(*summary_and_days(frequency, recency, T, monetary), AS_OF)
    fits = fits_by_model(night)
    assert fits["bg_nbd"]["status"] == "boundary"
    assert fits["bg_nbd"]["detail"].startswith("3 of 150 buyers repeat; no interior maximum")
    assert "a, b run towards 0 or infinity" in fits["bg_nbd"]["detail"]
    # The same as fields, which the report words in the operator's language; where the search
    # stopped is the fit's parameters, alpha in days.
    parameters = json.loads(fits["bg_nbd"]["parameters"])
    assert json.loads(fits["bg_nbd"]["detail_fields"]) == {
        "reason": "no_interior_maximum",
        "running": ["a", "b"],
        "at_search_edge": False,
        "parameters": parameters,
        "repeat_buyers": 3,
        "buyers": 150,
    }
    assert f"at {described(parameters)};" in fits["bg_nbd"]["detail"]
    with speaking("en"):
        words = fit_detail_text("", fits["bg_nbd"]["detail_fields"])
    assert words == fits["bg_nbd"]["detail"]
    reference = fit_bgnbd(frequency, recency, T)
    assert fits["bg_nbd"]["log_likelihood"] == reference.log_likelihood
    assert json.loads(fits["bg_nbd"]["parameters"])["a"] == reference.a
    # Predictions from the boundary fit for all 150; no spend model with 3 repeat buyers.
    assert len(night.predictions) == 150
    np.testing.assert_allclose(
        night.predictions["probability_alive"],
        reference.probability_alive(frequency, recency, T),
    )
    assert fits["gamma_gamma"]["status"] == "not_fitted"
    assert night.predictions["expected_avg_order_value_cny"].isna().all()
    assert night.predictions["clv_12m_cny"].isna().all()


def test_spend_without_a_finite_mean_is_unusable_and_null():
    # 1,000 buyers drawn from BG/NBD with CDNOW's parameters (per week: alpha in days is 7
    # times theirs); the repeat buyers' spend rates are Gamma(q = 0.6), a tail so heavy that
    # the fitted q is below 1, so p v / (q - 1), the population mean spend, is negative: no
    # expected spend, no CLV.
    rng = np.random.default_rng(5)
    T = np.floor(rng.uniform(120, 360, 1000))
    frequency, recency = simulate_bgnbd(rng, T, r=0.24, alpha=4.41 * 7, a=0.79, b=2.43)
    recency = np.floor(recency)
    monetary = simulate_spend(np.random.default_rng(11), frequency, 2.0, 0.6, 100.0)
    night = predict_night(*summary_and_days(frequency, recency, T, monetary), AS_OF)
    fits = fits_by_model(night)
    spend = fits["gamma_gamma"]
    assert spend["status"] == "unusable"
    assert spend["detail"].startswith("q=0.6253 <= 1: spend per purchase has no finite")
    repeat = frequency > 0
    fields = json.loads(spend["detail_fields"])
    assert fields == {"reason": "no_finite_mean_spend", "q": json.loads(spend["parameters"])["q"]}
    reference = GammaGammaFitter().fit(frequency[repeat], monetary[repeat])
    assert json.loads(spend["parameters"])["q"] == pytest.approx(reference.params_["q"], rel=1e-4)
    assert spend["n_customers"] == repeat.sum()
    assert night.predictions["expected_avg_order_value_cny"].isna().all()
    assert night.predictions["clv_12m_cny"].isna().all()
    # The purchase model is unaffected.
    assert fits["bg_nbd"]["status"] == "converged"
    assert json.loads(fits["bg_nbd"]["detail_fields"]) == {
        "reason": "repeat_buyers",
        "repeat_buyers": int(repeat.sum()),
        "buyers": 1000,
    }
    assert night.predictions["probability_alive"].notna().all()


def test_invalid_summary_is_a_failed_fit_with_the_message():
    T = 30.0 + (np.arange(150) * 53) % 335
    frequency, recency = np.zeros(150), np.zeros(150)
    frequency[:20], recency[:20] = 2, np.floor(T[:20] / 2)
    recency[0] = T[0] + 1  # a summary no purchase history can give
    monetary = np.where(frequency > 0, 89.0, 0.0)
    summary, purchase_days = summary_and_days(frequency, recency, T, monetary)
    fits = fits_by_model(predict_night(summary, purchase_days, AS_OF))
    assert fits["bg_nbd"]["status"] == "failed"
    assert fits["bg_nbd"]["detail"] == "recency exceeds T for 1 customers"
    # A fault upstream: the report shows the message, saying whose it is.
    assert json.loads(fits["bg_nbd"]["detail_fields"]) == {
        "reason": "invalid_input",
        "error": "recency exceeds T for 1 customers",
    }
    assert pd.isna(fits["bg_nbd"]["parameters"])


def test_regular_buyers_with_one_spend_never_raise():
    # 300 buyers who each came back 1 to 5 times and were still buying 10 to 59 days ago, all
    # for exactly 120 yuan: no dropout to see (r, alpha and b run off, a to 0) and no spread
    # of spend (the Gamma-Gamma likelihood is unbounded). On the way there the Newton step
    # meets a Hessian that overflows, which must end in a status, never an exception.
    frequency = 1.0 + np.arange(300) % 5
    T = 200.0 + (np.arange(300) * 7) % 160
    recency = T - 10 - (np.arange(300) % 50)
    monetary = np.full(300, 120.0)
    night = predict_night(*summary_and_days(frequency, recency, T, monetary), AS_OF)
    fits = fits_by_model(night)
    assert fits["gamma_gamma"]["status"] == "failed"
    assert "the likelihood still rises" in fits["gamma_gamma"]["detail"]
    # Where the search stopped differs between CPUs; the fields say what the detail says.
    spend = json.loads(fits["gamma_gamma"]["detail_fields"])
    assert sorted(spend) == ["gradient", "iterations", "parameters", "reason"]
    assert spend["reason"] == "likelihood_still_rises" and sorted(spend["parameters"]) == [
        "p",
        "q",
        "v",
    ]
    assert f"after {spend['iterations']} iterations" in fits["gamma_gamma"]["detail"]
    assert f"at {described(spend['parameters'])}, where" in fits["gamma_gamma"]["detail"]
    assert spend["gradient"] > 1e-3  # above the boundary's tolerance: still rising
    for model in ("bg_nbd", "bg_nbd_backtest"):
        assert fits[model]["status"] in ("boundary", "failed", "unusable"), model
        assert fits[model]["detail"], model
    # Rows only from a usable purchase model; never a spend or CLV.
    usable = fits["bg_nbd"]["status"] == "boundary"
    assert len(night.predictions) == (300 if usable else 0)
    assert night.predictions["clv_12m_cny"].isna().all()


def test_penalizer_setting_reaches_both_purchase_fits():
    T = 60.0 + (np.arange(150) * 37) % 340
    frequency = np.floor(T / 30)
    recency = 30 * frequency
    monetary = np.where(frequency > 0, 120.0, 0.0)
    settings = PredictionSettings(bgnbd_penalizer_coef=0.1)
    summary, purchase_days = summary_and_days(frequency, recency, T, monetary)
    fits = fits_by_model(predict_night(summary, purchase_days, AS_OF, settings))
    penalised = fit_bgnbd(frequency, recency, T, penalizer=0.1)
    assert json.loads(fits["bg_nbd"]["parameters"])["r"] == penalised.r
    unpenalised = fits_by_model(predict_night(summary, purchase_days, AS_OF))
    assert json.loads(unpenalised["bg_nbd"]["parameters"])["r"] != penalised.r
    calibration = fits["bg_nbd_backtest"]["parameters"]
    unpenalised_calibration = unpenalised["bg_nbd_backtest"]["parameters"]
    assert calibration is not None and calibration != unpenalised_calibration


def test_predictions_follow_the_stored_fit(generated_night):
    _, warehouse = generated_night
    fits = {
        model: (status, json.loads(parameters) if parameters else None, n_customers)
        for model, status, parameters, n_customers in query(
            warehouse,
            "select model, status, parameters, n_customers from predictive.btyd_model_fits",
        )
    }
    status, params, n_customers = fits["bg_nbd"]
    assert status == "converged"
    buyers = query(warehouse, "select count(*) from marts.customer_rfm")[0][0]
    assert n_customers == buyers
    assert query(warehouse, "select count(*) from predictive.customer_predictions") == [(buyers,)]

    # P(alive) for every repeat buyer, from the closed form with the stored parameters.
    rows = query(
        warehouse,
        """
        select rfm.btyd_frequency, rfm.btyd_recency, rfm.btyd_t, predictions.probability_alive
        from marts.customer_rfm as rfm
        inner join predictive.customer_predictions as predictions
            on rfm.customer_id = predictions.customer_id
        """,
    )
    r, alpha, a, b = params["r"], params["alpha"], params["a"], params["b"]
    for x, t_x, age, p_alive in rows:
        if x == 0:
            assert p_alive == 1.0
        else:
            odds = (a / (b + x - 1)) * ((alpha + age) / (alpha + t_x)) ** (r + x)
            assert p_alive == pytest.approx(1 / (1 + odds), rel=1e-9)


def test_backtest_compares_the_holdout(generated_night):
    _, warehouse = generated_night
    rows = query(
        warehouse,
        """
        select frequency_bucket, customers, total_actual, total_predicted,
               cast(holdout_end - calibration_end as integer)
        from predictive.model_backtest order by frequency_bucket
        """,
    )
    overall = [row for row in rows if row[0] == "all"]
    if not overall:
        pytest.skip("too few buyers for a backtest in this sample")
    _, customers, total_actual, total_predicted, holdout = overall[0]
    assert holdout == 90
    buckets = [row for row in rows if row[0] != "all"]
    assert sum(row[1] for row in buckets) == customers
    assert sum(row[2] for row in buckets) == pytest.approx(total_actual)
    assert sum(row[3] for row in buckets) == pytest.approx(total_predicted)
    # Actual holdout purchase days, counted independently from the purchase facts.
    actual = query(
        warehouse,
        """
        with first_days as (
            select customer_id, min(purchase_on) as first_on from marts.fct_purchase_days
            group by customer_id
        )
        select count(*) from marts.fct_purchase_days as days
        inner join first_days on days.customer_id = first_days.customer_id
        where first_days.first_on <= date '2026-08-02' and days.purchase_on > date '2026-08-02'
        """,
    )[0][0]
    assert total_actual == actual


def test_too_few_buyers_is_recorded_not_guessed(customer_marts_warehouse):
    fits = query(
        customer_marts_warehouse,
        """
        select model, status, detail, parameters from predictive.btyd_model_fits
        where as_of_date = '2026-06-30' order by model
        """,
    )
    assert [(model, status) for model, status, _, _ in fits] == [
        ("bg_nbd", "not_fitted"),
        ("bg_nbd_backtest", "not_fitted"),
        ("gamma_gamma", "not_fitted"),
    ]
    assert fits[0][2] == "8 buyers, fewer than min_customers=100"
    assert fits[2][2] == "3 repeat buyers with positive spend, fewer than min_customers=100"
    assert fits[0][3] is None
    assert query(
        customer_marts_warehouse, "select count(*) from predictive.customer_predictions"
    ) == [(0,)]


def test_likely_to_churn_tag_reads_tonights_predictions(generated_night):
    _, warehouse = generated_night
    mismatches = query(
        warehouse,
        """
        select count(*) from marts.customer_profile as profile
        left join predictive.customer_predictions as predictions
            on profile.customer_id = predictions.customer_id
        where profile.is_likely_to_churn is distinct from (predictions.probability_alive < 0.5)
            or profile.probability_alive is distinct from predictions.probability_alive
        """,
    )
    assert mismatches == [(0,)]
    flagged = query(
        warehouse,
        """
        select count(*), min(rfm.btyd_frequency) from marts.customer_profile as profile
        inner join marts.customer_rfm as rfm on profile.customer_id = rfm.customer_id
        where profile.is_likely_to_churn
        """,
    )[0]
    if flagged[0]:
        assert flagged[1] >= 1  # never a one-time buyer


# ---------------------------------------------------------------------------------------------
# Whole nights on what brands send when the models cannot be fitted
# ---------------------------------------------------------------------------------------------

BRAND_AS_OF = "2026-06-30"
BRAND_RUN_STARTED_AT = "2026-07-01 08:00:00"
PROVINCES = [("浙江省", "杭州市"), ("广东省", "深圳市"), ("上海市", "上海市"), ("四川省", "成都市")]
# Sales channels are the declared ones: a new channel is another part of the contract.
CHANNELS = ["wechat_shop", "mini_program", "douyin_shop", "offline_store"]
PRODUCTS = [("SKU-MASK", "玻尿酸补水面膜", "面膜", 89.0), ("SKU-SERUM", "修护精华", "精华", 259.0)]


def write_brand_export(raw_dir: Path, buyers: int, repeaters: int) -> None:
    """A brand's first export, written as brands send it: Taobao-style ids, Chinese provinces,
    products and friend channels (淘宝包裹卡), blank genders, and every optional column they do
    not fill left out (no birthday, identity or skin type; no refund or discount columns; no
    unit price). Buyer i first bought 2025-07-05 + 2i days (to 2026-05-29) for 89 or 259
    yuan, one order of one line; the first ``repeaters`` buyers bought the serum again 30
    days later. Every tenth buyer added a WeCom friend by parcel card the day of the order.
    """
    raw_dir.mkdir(parents=True, exist_ok=True)
    first_day = dt.datetime(2025, 7, 5, 20, 15)

    def write(name: str, header: list[str], rows: list[list[object]]) -> None:
        with (raw_dir / f"{name}.csv").open("w", encoding="utf-8", newline="") as file:
            csv.writer(file).writerows([header, *rows])

    customers, orders, items, friends = [], [], [], []
    for i in range(buyers):
        customer = f"TB{20_250_000 + i}"
        province, city = PROVINCES[i % len(PROVINCES)]
        ordered = first_day + dt.timedelta(days=2 * i, minutes=7 * i)
        customers.append(
            [customer, "FM"[i % 2] if i % 5 else "", province, city, "普通会员", ordered]
        )
        visits = [ordered] + ([ordered + dt.timedelta(days=30)] if i < repeaters else [])
        for visit, at in enumerate(visits):
            order = f"{customer}-{visit + 1}"
            sku, _, _, price = PRODUCTS[1] if visit else PRODUCTS[i % 2]
            paid = at + dt.timedelta(minutes=2)
            channel = CHANNELS[i % len(CHANNELS)]
            orders.append([order, customer, at, paid, "paid", channel, f"{price:.2f}"])
            items.append([order, 1, sku, 1, f"{price:.2f}"])
        if i % 10 == 0:
            friends.append(
                [f"E{i}", customer, "staff_01", "add", ordered, "parcel_card", "淘宝包裹卡"]
            )
    write(
        "customers",
        ["customer_id", "gender", "province", "city", "member_level", "registered_at"],
        customers,
    )
    write(
        "products",
        ["sku_id", "sku_name", "category", "price"],
        [[sku, name, category, f"{price:.2f}"] for sku, name, category, price in PRODUCTS],
    )
    write(
        "orders",
        ["order_id", "customer_id", "order_ts", "paid_ts", "status", "channel", "total_amount"],
        orders,
    )
    write("order_items", ["order_id", "line_no", "sku_id", "quantity", "line_amount"], items)
    friend_columns = ["event_id", "customer_id", "staff_id", "event_type", "event_ts"]
    write("friend_events", [*friend_columns, "channel_code", "channel_name"], friends)
    write(
        "interactions",
        ["interaction_id", "customer_id", "interaction_ts", "interaction_type"],
        [[f"I{i}", f"TB{20_250_000 + i}", first_day, "chat_in"] for i in range(0, buyers, 25)],
    )


def run_brand_night(tmp_path_factory: pytest.TempPathFactory, repeaters: int):
    raw = tmp_path_factory.mktemp(f"brand_raw_{repeaters}")
    write_brand_export(raw, buyers=150, repeaters=repeaters)
    home = tmp_path_factory.mktemp(f"brand_home_{repeaters}")
    # The report in English, the language these tests read it in.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SCRM_LANG", "en")
        result = run_night(raw, home, BRAND_AS_OF, BRAND_RUN_STARTED_AT)
    return result, home


@night_fixture(scope="module")
def one_time_buyers_night(tmp_path_factory: pytest.TempPathFactory):
    """150 buyers, none of whom came back."""
    return run_brand_night(tmp_path_factory, repeaters=0)


@night_fixture(scope="module")
def three_repeat_buyers_night(tmp_path_factory: pytest.TempPathFactory):
    """150 buyers, 3 of whom came back once: BG/NBD's a and b run to the boundary."""
    return run_brand_night(tmp_path_factory, repeaters=3)


def assert_night_published(result, home: Path) -> str:
    """The night succeeded end to end; the report's text."""
    assert result.success
    failed = [event.step_key for event in result.all_events if event.is_step_failure]
    assert failed == []
    warehouse = home / "warehouse.duckdb"
    night = dt.date.fromisoformat(BRAND_AS_OF)
    assert published_night(home / "published") == night
    manifest = json.loads((home / "exports" / BRAND_AS_OF / "manifest.json").read_text())
    assert manifest["as_of_date"] == BRAND_AS_OF
    # The profile of all 150 buyers, and every segment exported, as on any night.
    assert query(warehouse, "select count(*) from marts.customer_profile") == [(150,)]
    segments = {
        name for (name,) in query(warehouse, "select segment_name from marts.segment_catalog")
    }
    assert len(segments) == 12
    assert segments <= set(manifest["segments"])
    return (home / "reports" / f"{BRAND_AS_OF}.html").read_text(encoding="utf-8")


def catalog_model_statuses(warehouse: Path) -> dict[str, str]:
    """The tag catalog's model_status of every tag that has one (the predictive tags)."""
    return dict(
        query(
            warehouse,
            "select tag_name, model_status from marts.tag_catalog where model_status is not null",
        )
    )


def night_fits(home: Path) -> dict[str, tuple]:
    rows = query(
        home / "warehouse.duckdb",
        "select model, status, detail, n_customers, log_likelihood "
        f"from predictive.btyd_model_fits where as_of_date = '{BRAND_AS_OF}'",
    )
    return {row[0]: row[1:] for row in rows}


def test_one_time_buyers_night_publishes_without_predictions(one_time_buyers_night):
    result, home = one_time_buyers_night
    report = assert_night_published(result, home)
    fits = night_fits(home)
    assert {model: fit[0] for model, fit in fits.items()} == {
        "bg_nbd": "not_fitted",
        "gamma_gamma": "not_fitted",
        "bg_nbd_backtest": "not_fitted",
    }
    assert fits["bg_nbd"][1] == (
        "none of 150 buyers has a repeat purchase: dropout cannot be estimated"
    )
    # Buyers 0..134 first bought by 2026-04-01 (2025-07-05 + 2 x 134 days = 2026-03-30).
    assert fits["bg_nbd_backtest"][1] == (
        "none of 135 buyers has a repeat purchase: dropout cannot be estimated"
    )
    warehouse = home / "warehouse.duckdb"
    assert query(warehouse, "select count(*) from predictive.customer_predictions") == [(0,)]
    assert query(
        warehouse,
        "select count(probability_alive), count(clv_12m_cny), count(is_likely_to_churn) "
        "from marts.customer_profile",
    ) == [(0, 0, 0)]
    assert "bg_nbd is not_fitted" in report
    assert "none of 150 buyers has a repeat purchase" in report
    assert catalog_model_statuses(warehouse) == {
        "probability_alive": "bg_nbd: not_fitted",
        "clv_12m_cny": "bg_nbd: not_fitted; gamma_gamma: not_fitted",
        "is_likely_to_churn": "bg_nbd: not_fitted",
    }


def test_boundary_night_publishes_flagged_predictions(three_repeat_buyers_night):
    result, home = three_repeat_buyers_night
    report = assert_night_published(result, home)
    fits = night_fits(home)
    status, detail, n_customers, log_likelihood = fits["bg_nbd"]
    assert (status, n_customers) == ("boundary", 150)
    assert detail.startswith("3 of 150 buyers repeat; no interior maximum")
    assert "a, b run towards 0 or infinity" in detail
    assert fits["gamma_gamma"][:2] == (
        "not_fitted",
        "3 repeat buyers with positive spend, fewer than min_customers=100",
    )
    # lifetimes on the same summaries reaches the same bounded maximum.
    warehouse = home / "warehouse.duckdb"
    x, t_x, T = (
        np.array(column, dtype=np.float64)
        for column in zip(
            *query(
                warehouse, "select btyd_frequency, btyd_recency, btyd_t from marts.customer_rfm"
            ),
            strict=True,
        )
    )
    assert (x.sum(), x.size) == (3, 150)
    reference = BetaGeoFitter().fit(x, t_x, T)
    reference_ll = -reference._negative_log_likelihood_ * x.size - x.sum() * np.log(T.max())
    assert log_likelihood == pytest.approx(reference_ll, abs=1e-5)
    assert log_likelihood >= reference_ll - 1e-6
    # Predictions from the flagged fit reach the profile: P(alive) = 1 for the one-time buyers,
    # near 0 for the three who came back (every repeat ended in dropout on this ridge).
    alive = dict(
        query(
            warehouse,
            "select rfm.btyd_frequency, max(profile.probability_alive) "
            "from marts.customer_profile as profile inner join marts.customer_rfm as rfm "
            "on profile.customer_id = rfm.customer_id group by 1",
        )
    )
    assert alive[0] == 1.0 and alive[1] < 1e-4
    assert query(
        warehouse, "select count(*) from marts.customer_profile where is_likely_to_churn"
    ) == [(3,)]
    # The backtest's calibration fit is at the boundary too, and the backtest is kept.
    assert fits["bg_nbd_backtest"][0] == "boundary"
    assert query(
        warehouse,
        "select customers from predictive.model_backtest where frequency_bucket = 'all'",
    ) == [(135,)]
    assert "bg_nbd is boundary" in report
    assert "predictions from that fit, flagged" in report
    assert catalog_model_statuses(warehouse) == {
        "probability_alive": "bg_nbd: boundary",
        "clv_12m_cny": "bg_nbd: boundary; gamma_gamma: not_fitted",
        "is_likely_to_churn": "bg_nbd: boundary",
    }
