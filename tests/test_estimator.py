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
from autoencoders.training import in_memory

#: small and quick: a few epochs of a small code
FAST = {"latent_dim": 8, "epochs": 5, "batch_size": 32, "lr": 3e-3}


#: scikit-learn checks that compare outputs at rtol 1e-7. The model computes in
#: float32, and BLAS rounds a row's result differently with the rows around it (one
#: or two float32 units, ~1e-7 relative), so these pass or fail with the machine's
#: kernels. The property itself (a row's output does not depend on the other rows)
#: is checked at float32's tolerance by ``test_outputs_do_not_depend_on_the_other_rows``.
FLOAT32_ROUNDING_CHECKS = {
    "check_methods_sample_order_invariance": "float32 rounding depends on the row order",
    "check_methods_subset_invariance": "float32 rounding depends on the rows batched together",
}


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


def test_explicit_depth_that_cannot_narrow_is_still_refused():
    X = np.random.default_rng(0).random((30, 3))
    with pytest.raises(ValueError, match=r"num_layers must be in \[1, 2\].*got 3: too deep"):
        AutoencoderTransformer(latent_dim=1, model_options={"num_layers": 3}).fit(X)


# ---------------------------------------------------- defaults that fit any table
def test_defaults_fit_a_five_and_a_three_column_table():
    rng = np.random.default_rng(0)
    for n_features, depth in [(5, 3), (3, 2)]:
        X = rng.random((60, n_features))
        est = AutoencoderTransformer()
        codes = est.fit(X).transform(X)
        # a quarter of the features, at least 1; as many mlp layers as can narrow 3 -> 1
        assert est.latent_dim_ == est.n_components_ == 1 and codes.shape == (60, 1)
        assert est.num_layers_ == depth and est.model_.config["num_layers"] == depth
        assert est.model_.config["architecture"] == "mlp"
        assert est.get_params()["latent_dim"] is None  # fit chose; the parameter stays
        assert est.n_epochs_ <= 500 and np.isfinite(est.score(X))


def test_auto_code_size_is_a_quarter_of_the_features_at_most_20(digits):
    X = digits[0][:200]
    est = AutoencoderTransformer(epochs=1).fit(X)
    assert est.latent_dim_ == 16 and est.num_layers_ == 3  # 64 features
    wide = np.hstack([X, X])
    assert AutoencoderTransformer(epochs=1).fit(wide).latent_dim_ == 20  # 128 features
    # an explicit code keeps the default depth where it fits, and a shallower one otherwise
    three = X[:, 20:23]
    assert AutoencoderTransformer(latent_dim=2, epochs=1).fit(three).num_layers_ == 1
    assert clone(est).latent_dim is None and not hasattr(clone(est), "latent_dim_")


@pytest.mark.parametrize(("model", "n_features"), [("deep", 1), ("vae", 2)])
def test_a_table_too_narrow_for_any_mlp_layer_gets_the_linear_architecture(model, n_features):
    X = np.random.default_rng(0).random((40, n_features))
    est = AutoencoderTransformer(model, epochs=2).fit(X)
    assert est.model_.config["architecture"] == "linear" and est.num_layers_ is None
    assert est.transform(X).shape == (40, 1)
    # a code size or an architecture the user chose is not changed behind their back
    with pytest.raises(ValueError, match=r"mlp cannot narrow"):
        AutoencoderTransformer(model, latent_dim=1, epochs=2).fit(X)


def test_an_explicit_code_too_large_for_the_table_is_refused_clearly():
    X = np.random.default_rng(0).random((30, 5))
    with pytest.raises(
        ValueError,
        match=r"^latent_dim must be in \[1, 4\] for architecture mlp on 5 input values.*got 20$",
    ):
        AutoencoderTransformer(latent_dim=20).fit(X)
    with pytest.raises(ValueError, match=r"^latent_dim must be in \[1, 20\].*got 21$"):
        AutoencoderTransformer("simple", latent_dim=21, epochs=1).fit(X)


def test_auto_code_size_that_no_code_fits_says_what_was_tried():
    # vq codes are multiples of code_dim (4); a quarter of 10 features is 2
    X = np.random.default_rng(0).random((30, 10))
    with pytest.raises(
        ValueError, match=r"multiple of code_dim.*latent_dim=None tried codes of 2 down to 1"
    ):
        AutoencoderTransformer("vq", epochs=1).fit(X)


def test_early_stopping_on_a_few_rows_counts_epochs_as_passes():
    # 27 training rows are one batch: a trainer epoch is 20 passes, one validation check
    X = np.random.default_rng(0).random((30, 5))
    est = AutoencoderTransformer(patience=2).fit(X)
    assert est.n_epochs_ % 20 == 0 and 60 <= est.n_epochs_ <= 500, est.n_epochs_
    best = int(est.stop_reason_.rsplit("epoch ", 1)[1].rstrip(")"))
    assert best % 20 == 0 and best <= est.n_epochs_, est.stop_reason_


def test_outputs_do_not_depend_on_the_other_rows(fitted, digits):
    # scikit-learn's sample-order and subset checks, at float32's tolerance
    X = digits[0][:200]
    order = np.random.default_rng(0).permutation(len(X))
    codes = fitted.transform(X)
    np.testing.assert_allclose(fitted.transform(X[order]), codes[order], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(fitted.transform(X[50:53]), codes[50:53], rtol=1e-5, atol=1e-6)
    rows = fitted.inverse_transform(codes)
    np.testing.assert_allclose(
        fitted.inverse_transform(codes[order]), rows[order], rtol=1e-5, atol=1e-5
    )


def test_several_passes_per_trainer_epoch_train_exactly_as_one(monkeypatch):
    # a few rows: one batch a pass, so a trainer epoch holds 20 passes (the same shuffles)
    X = np.random.default_rng(0).random((30, 6))
    grouped = AutoencoderTransformer(epochs=40, random_state=1).fit(X)
    monkeypatch.setattr(in_memory, "epochs_per_check", lambda batches: 1)
    single = AutoencoderTransformer(epochs=40, random_state=1).fit(X)
    assert grouped.n_epochs_ == single.n_epochs_ == 40
    assert grouped.stop_reason_ == single.stop_reason_ == "trained the fixed --epochs 40"
    # weights and BatchNorm statistics bit for bit; only the code statistics (the
    # prior a plain autoencoder samples from) span a trainer epoch, 20 passes
    ours, theirs = grouped.model_.state_dict(), single.model_.state_dict()
    assert ours.keys() == theirs.keys()
    for name in ours:
        if not name.startswith("code_"):
            torch.testing.assert_close(ours[name], theirs[name], rtol=0, atol=0, msg=name)


# scikit-learn's own contract checks, on their tables of 1-10 features, with the
# defaults (latent_dim and depth chosen at fit, early stopping). All but two apply
# and pass (the array-API check skips itself unless SCIPY_ARRAY_API=1); see
# FLOAT32_ROUNDING_CHECKS for the two, whose property a test here checks instead.
@parametrize_with_checks(
    [AutoencoderTransformer()], expected_failed_checks=lambda _: FLOAT32_ROUNDING_CHECKS
)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def test_signal_models_read_each_row_as_one_channel(digits):
    est = AutoencoderTransformer("sequence", latent_dim=4, epochs=1, batch_size=64)
    assert est.fit(digits[0][:128]).input_shape_ == (1, 64)
    assert est.transform(digits[0][:5]).shape == (5, 4)
