"""The scikit-learn estimator: an autoencoder wherever PCA would go, on the bundled digits."""

import pickle

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import mean_squared_error
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import Pipeline
from sklearn.utils.estimator_checks import parametrize_with_checks

import autoencoders
from autoencoders.estimator import AutoencoderTransformer

#: small and quick: a few epochs of a small code
FAST = {"latent_dim": 8, "epochs": 5, "batch_size": 32, "lr": 3e-3}


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray]:
    """1,797 rows of 64 pixel values in 0..16 (float64), and their digit labels."""
    data = load_digits()
    return data.data, data.target


@pytest.fixture(scope="module")
def fitted(digits) -> AutoencoderTransformer:
    return AutoencoderTransformer(**FAST).fit(digits[0])


def test_is_exported_from_the_package():
    assert autoencoders.AutoencoderTransformer is AutoencoderTransformer


def test_fit_sets_attributes_and_transform_gives_codes(fitted, digits):
    X = digits[0]
    assert fitted.n_features_in_ == 64 and fitted.n_components_ == 8
    assert fitted.input_shape_ == (64,)
    assert not fitted.model_.training
    assert {p.device.type for p in fitted.model_.parameters()} == {"cpu"}
    assert fitted.data_min_.shape == fitted.data_max_.shape == (64,)
    codes = fitted.transform(X)
    assert codes.shape == (len(X), 8) and codes.dtype == np.float64
    assert np.isfinite(codes).all() and codes.std(axis=0).min() > 0  # every unit varies
    assert fitted.transform(X.astype(np.float32)).dtype == np.float32
    # rows are coded independently (eval-mode BatchNorm); only float rounding may differ
    np.testing.assert_allclose(fitted.transform(X[:10]), codes[:10], rtol=1e-5, atol=1e-6)


def test_feature_names_and_pandas_output(fitted, digits):
    pd = pytest.importorskip("pandas")
    names = [f"autoencodertransformer{i}" for i in range(8)]
    assert list(fitted.get_feature_names_out()) == names
    frame = pd.DataFrame(digits[0][:5], columns=[f"px{i}" for i in range(64)])
    est = clone(fitted).set_params(epochs=1).set_output(transform="pandas")
    out = est.fit(pd.DataFrame(digits[0], columns=frame.columns)).transform(frame)
    assert isinstance(out, pd.DataFrame) and list(out.columns) == names
    assert list(est.feature_names_in_) == list(frame.columns)


def test_pipeline_with_a_classifier_beats_chance_clearly(digits):
    X, y = digits
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.3, random_state=0, stratify=y)
    pipe = Pipeline(
        [
            ("ae", AutoencoderTransformer(latent_dim=16, epochs=5, batch_size=64)),
            ("clf", LogisticRegression(max_iter=1000)),
        ]
    )
    accuracy = pipe.fit(X_tr, y_tr).score(X_te, y_te)
    assert accuracy > 0.5, accuracy  # chance is 0.1


def test_clone_and_params_round_trip(fitted, digits):
    est = AutoencoderTransformer("vae", 4, epochs=2, model_options={"beta": 2.0}, random_state=7)
    params = est.get_params()
    assert params["model"] == "vae" and params["model_options"] == {"beta": 2.0}
    assert clone(est).get_params() == params
    assert AutoencoderTransformer().set_params(**params).get_params() == params
    with pytest.raises(NotFittedError):
        clone(fitted).transform(digits[0])  # a clone is unfitted


def test_same_random_state_gives_identical_codes_and_leaves_torch_rng_alone(digits):
    X = digits[0][:600]
    torch_state = torch.random.get_rng_state()
    first = AutoencoderTransformer(latent_dim=4, epochs=2, batch_size=64, random_state=3).fit(X)
    second = AutoencoderTransformer(latent_dim=4, epochs=2, batch_size=64, random_state=3).fit(X)
    other = AutoencoderTransformer(latent_dim=4, epochs=2, batch_size=64, random_state=4).fit(X)
    assert torch.equal(torch.random.get_rng_state(), torch_state)
    np.testing.assert_array_equal(first.transform(X), second.transform(X))
    assert not np.allclose(first.transform(X), other.transform(X))


def test_inverse_transform_returns_the_original_scale(fitted, digits):
    X = digits[0]
    X_hat = fitted.inverse_transform(fitted.transform(X))
    assert X_hat.shape == X.shape and X_hat.dtype == np.float64
    assert X_hat.max() > 8  # pixel units (0..16), not the model's [0, 1]
    np.testing.assert_array_equal(X_hat[:, 0], 0.0)  # a constant pixel decodes to its constant
    sse = ((X - X_hat) ** 2).sum(axis=1).mean()
    mean_predictor = ((X - X.mean(axis=0)) ** 2).sum(axis=1).mean()
    assert sse < 0.6 * mean_predictor, (sse, mean_predictor)
    assert fitted.reconstruction_error_ == pytest.approx(sse, rel=1e-5)


def test_score_is_negative_mse_and_training_improves_it(fitted, digits):
    X = digits[0]
    X_hat = fitted.inverse_transform(fitted.transform(X))
    score = fitted.score(X)
    assert score < 0
    assert score == pytest.approx(-mean_squared_error(X, X_hat), rel=1e-5)
    assert score == pytest.approx(-fitted.reconstruction_error_ / 64, rel=1e-5)
    untrained = AutoencoderTransformer(**{**FAST, "epochs": 0}).fit(X)
    assert untrained.score(X) < score


def test_default_trains_until_the_held_out_loss_stops_improving(digits):
    X = digits[0]
    est = AutoencoderTransformer("simple", latent_dim=8, batch_size=64, lr=3e-3, patience=3)
    est.fit(X)
    assert est.stop_reason_.startswith("stopped early"), est.stop_reason_
    assert est.n_epochs_ < 500
    short = AutoencoderTransformer("simple", latent_dim=8, epochs=1, batch_size=64, lr=3e-3)
    assert short.fit(X).stop_reason_ == "trained the fixed --epochs 1" and short.n_epochs_ == 1
    assert est.score(X) > short.score(X) + 0.01
    again = AutoencoderTransformer("simple", latent_dim=8, batch_size=64, lr=3e-3, patience=3)
    np.testing.assert_array_equal(again.fit(X).transform(X), est.transform(X))


def test_grid_search_uses_score_without_a_scorer(digits):
    X = digits[0][:400]
    search = GridSearchCV(
        AutoencoderTransformer(epochs=1, batch_size=64), {"latent_dim": [2, 8]}, cv=2
    )
    search.fit(X)
    scores = dict(
        zip(
            search.cv_results_["param_latent_dim"],
            search.cv_results_["mean_test_score"],
            strict=True,
        )
    )
    assert search.best_params_["latent_dim"] == max(scores, key=scores.get)
    assert np.all(search.cv_results_["mean_test_score"] < 0)


def test_conv_model_on_images(digits):
    X = digits[0][:600]
    est = AutoencoderTransformer(
        "conv", latent_dim=8, epochs=2, batch_size=64, input_shape=(1, 8, 8)
    )
    codes = est.fit(X).transform(X)
    assert codes.shape == (600, 8)
    assert est.model_.config["architecture"] == "conv"
    assert est.inverse_transform(codes).shape == (600, 64)


def test_variational_codes_are_the_deterministic_posterior_mean(digits):
    X = digits[0][:300]
    est = AutoencoderTransformer("vae", latent_dim=4, epochs=1, batch_size=64).fit(X)
    np.testing.assert_array_equal(est.transform(X), est.transform(X))


def test_fitted_estimator_pickles(fitted, digits):
    again = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(again.transform(digits[0][:20]), fitted.transform(digits[0][:20]))


def test_a_trailing_one_sample_batch_does_not_break_batchnorm(digits):
    # 65 rows at batch size 64 would leave a last batch of one, which BatchNorm refuses
    est = AutoencoderTransformer(latent_dim=4, epochs=1, batch_size=64).fit(digits[0][:65])
    assert est.transform(digits[0][:65]).shape == (65, 4)


def test_scale_none_takes_unit_data_as_is(digits):
    X = digits[0][:300] / 16.0
    est = AutoencoderTransformer(latent_dim=4, epochs=1, scale="none").fit(X)
    np.testing.assert_array_equal(est.data_min_, 0.0)
    np.testing.assert_array_equal(est.data_max_, 1.0)
    assert est.inverse_transform(est.transform(X)).max() <= 1.0


def test_fit_writes_no_files(digits, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    AutoencoderTransformer(latent_dim=4, epochs=1).fit(digits[0][:300])
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------ errors
def test_unknown_model_is_refused_at_fit_not_construction(digits):
    est = AutoencoderTransformer(model="no-such-model")  # sklearn: no checks in __init__
    with pytest.raises(ValueError, match=r"unknown model 'no-such-model'.*deep"):
        est.fit(digits[0])


def test_wrong_number_of_features_names_both_counts(fitted, digits):
    with pytest.raises(ValueError, match=r"X has 10 features.*expecting 64 features"):
        fitted.transform(digits[0][:, :10])
    with pytest.raises(ValueError, match=r"3 features.*codes of 8 features"):
        fitted.inverse_transform(np.zeros((2, 3)))


def test_nan_input_is_refused(digits):
    X = digits[0][:100].copy()
    X[3, 5] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        AutoencoderTransformer(**FAST).fit(X)


def test_transform_before_fit_raises_not_fitted(digits):
    est = AutoencoderTransformer()
    for method in (est.transform, est.inverse_transform, est.score, est.get_feature_names_out):
        with pytest.raises(NotFittedError):
            method(digits[0][:5]) if method != est.get_feature_names_out else method()


def test_scale_none_refuses_data_outside_the_unit_range(digits):
    with pytest.raises(ValueError, match=r"scale='none' needs X in \[0, 1\].*scale='minmax'"):
        AutoencoderTransformer(scale="none").fit(digits[0])


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"input_shape": (1, 7, 7)}, r"holds 49 values, but X has 64 features"),
        ({"scale": "standard"}, r"scale must be one of"),
        ({"epochs": -1}, r"epochs must be an integer >= 0"),
        ({"model_options": {"latent_dim": 3}}, r"model_options may not set \['latent_dim'\]"),
        ({"model_options": {"no_such_field": 1}}, r"unknown option\(s\) \['no_such_field'\]"),
    ],
)
def test_bad_parameters_are_refused_clearly(digits, params, message):
    with pytest.raises(ValueError, match=message):
        AutoencoderTransformer(**params).fit(digits[0][:50])


# scikit-learn's own contract checks; they use 1-4 features, so the one-layer model.
@parametrize_with_checks([AutoencoderTransformer("simple", latent_dim=1, epochs=1, batch_size=16)])
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def test_signal_models_read_each_row_as_one_channel(digits):
    est = AutoencoderTransformer("sequence", latent_dim=4, epochs=1, batch_size=64)
    assert est.fit(digits[0][:128]).input_shape_ == (1, 64)
    assert est.transform(digits[0][:5]).shape == (5, 4)
