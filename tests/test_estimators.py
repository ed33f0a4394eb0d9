"""Every registered method's estimator, and `SemanticCenters`, under scikit-learn's own checks, and in clone /
set_params / Pipeline / GridSearchCV.

The estimators are read from the methods registry (`METHODS`), never listed by hand: a new method is checked the day
it is registered. `check_estimator` runs every check scikit-learn has for a clusterer (and a transformer, for
`RelationalKMeans`). No check is declared as an expected failure. One binding is needed instead: the estimators that
read text features (or a CLIP text tower) of one width refuse images of another width, while the checks feed images
of widths 2 to 10. So these run the suite once per width the checks use, with nouns (or a tiny random-weights CLIP)
of that width, and each check must pass at the width of its own data; at any other width it may only fail with the
width error.
Synthetic data only; `pytest -s` prints what ran.
"""
import inspect
import warnings

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.cluster import KMeans
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import Normalizer, StandardScaler
from sklearn.utils._param_validation import InvalidParameterError
from sklearn.utils.estimator_checks import check_estimator

import laic_nb.rad
import laic_nb.spectral
from laic_nb.baselines import ZeroShotCLIP
from laic_nb.centers import SemanticCenters
from laic_nb.clip import tiny_clip
from laic_nb.cluster import ClipKMeans, NTKSpectralClustering
from laic_nb.data import make_vl_blobs
from laic_nb.methods import METHODS
from laic_nb.relational import RelationalKMeans

# the widths of the images scikit-learn 1.9's checks fit on (check_fit2d_1feature's single feature is refused at the
# door with the message that check asks for, whatever the text width)
CHECK_WIDTHS = (2, 3, 4, 5, 10)


def unit_rows(seed, *shape):
    a = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
    return a / np.linalg.norm(a, axis=-1, keepdims=True)


SMALL = dict(epochs=2, init_steps=20, init="prototype", num_threads=1)  # the centers: a short, seeded fit per check


class HashedByWeights:
    """A tiny CLIP network that pickles as its weights. scikit-learn checks that `fit` leaves every parameter unchanged
    by comparing `joblib.hash` of the parameter with that of a deep copy taken before; a torch module pickles the
    memory addresses of its storages, so a network never hashes like its own copy. This proxy (attribute access goes
    to the network) pickles, copies and hashes as its width and weights, so the check compares what it means to."""
    def __init__(self, width): self.net, self.width = tiny_clip(embed_dim=width), width
    def __getattr__(self, name):
        if name in ("net", "width"): raise AttributeError(name)
        return getattr(self.net, name)
    def __getstate__(self): return dict(width=self.width, weights={k: v.detach().numpy().copy() for k, v in self.net.state_dict().items()})
    def __setstate__(self, state):
        self.net, self.width = tiny_clip(embed_dim=state["width"]), state["width"]
        self.net.load_state_dict({k: torch.from_numpy(v) for k, v in state["weights"].items()})


def from_registry(m, w, blobs=None):
    "The estimator of method `m` for images of width `w` (None: any), or for the synthetic `blobs`."
    cls, kw = m.estimator, dict(m.fixed)
    d = w if blobs is None else blobs.image_features.shape[1]
    if m.text == "prompts": kw["text_features"] = unit_rows(d, 3, 8, d) if blobs is None else blobs.prompt_text_features
    if m.text == "nouns": kw["text_features"] = unit_rows(d, 12, d) if blobs is None else blobs.text_features
    if m.text == "class_names":
        kw["class_text_features"] = (told_the_classes() if w == 2 else unit_rows(w, 3, w)) if blobs is None else \
            np.stack([blobs.text_features[blobs.noun_labels == c].mean(0) for c in range(4)])
    if m.needs_clip: kw.update(model=HashedByWeights(d), n_clusters=3, threshold=0.5, **SMALL)
    if "knn" in m.parameters and blobs is None: kw["knn"] = 5  # the checks fit as few as 10 images
    if blobs is not None and "n_clusters" in inspect.signature(cls).parameters: kw["n_clusters"] = 4
    return cls(**kw)


CLASSES = tuple(dict.fromkeys(m.estimator for m in METHODS.values()))  # every registered method's estimator, once
# name -> (estimator for images of width w, the widths to run)
ESTIMATORS = {cls.__name__: ((lambda w, m=m: from_registry(m, w)), CHECK_WIDTHS if (m.text or m.needs_clip) else (None,))
              for cls in CLASSES for m in [next(m for m in METHODS.values() if m.estimator is cls)]}
ESTIMATORS["SemanticCenters"] = (lambda w: SemanticCenters(model=HashedByWeights(w), progress=False, **SMALL), CHECK_WIDTHS)


def told_the_classes():
    "Zero-shot is told the classes: the mean directions of the three blobs of scikit-learn's `check_clustering`."
    x, y = make_blobs(n_samples=50, random_state=1)  # that check's data, standardised as it does
    x = StandardScaler().fit_transform(x)
    return np.stack([x[y == c].mean(0) for c in range(3)])


def is_width_error(e) -> bool:
    "The error of images and text features of different widths (directly, or as the cause of a check's assertion)."
    while e is not None:
        if "encode both with the same CLIP model" in str(e) or "use features from the same CLIP model" in str(e): return True
        e = e.__cause__ or e.__context__
    return False


@pytest.mark.parametrize("name", ESTIMATORS)
def test_scikit_learn_checks(name):
    make, widths = ESTIMATORS[name]
    runs = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for w in widths: runs[w] = check_estimator(make(w), on_fail=None, on_skip=None)
    names = [r["check_name"] for r in runs[widths[0]]]
    assert all([r["check_name"] for r in rs] == names for rs in runs.values())  # the same checks in the same order
    problems, passed_at = [], {}
    for i, check in enumerate(names):
        results = {w: rs[i] for w, rs in runs.items()}
        ok = [w for w, r in results.items() if r["status"] in ("passed", "skipped")]  # skipped: an optional dependency
        passed_at.setdefault(check, set()).update(ok)
        if not ok: problems.append(f"{check}: fails at every width: {results[widths[0]]['exception']!r}"[:400])
        problems += [f"{check} at width {w}: {r['exception']!r}"[:400] for w, r in results.items()
                     if r["status"] == "failed" and not is_width_error(r["exception"])]
    assert not problems, "\n".join(problems)
    print(f"\n{name}: {len(names)} checks pass, declared exceptions: none")
    if widths != (None,):
        for w in widths:
            print(f"  text width {w:2d}: {sorted(c for c, ok in passed_at.items() if ok == {w})}")


@pytest.fixture(scope="module")
def blobs():
    return make_vl_blobs(n_samples=240, n_clusters=4, dim=32, n_nouns=60, confusion=0.75, random_state=0)


def fitted_free(cls, blobs):
    "An instance of `cls` for the synthetic blobs (their nouns where the class needs nouns), built as the registry builds it."
    return from_registry(next(m for m in METHODS.values() if m.estimator is cls), None, blobs)


def test_every_registered_method_is_checked():
    "The registry's estimators are the classes checked here, SemanticCenters besides."
    assert {c.__name__ for c in CLASSES} | {"SemanticCenters"} == set(ESTIMATORS)
    assert {"RelationalCenters", "NTKSpectralClustering", "ZeroShotCLIP"} <= set(ESTIMATORS)


@pytest.mark.parametrize("cls", CLASSES + (SemanticCenters,))
def test_signature_is_scikit_learns(cls):
    "Every parameter has a default; all but the first (n_clusters, or ZeroShotCLIP's class features) are keyword-only."
    params = list(inspect.signature(cls).parameters.values())
    assert all(p.default is not inspect.Parameter.empty for p in params)
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in params[1:])
    assert params[0].name == {ZeroShotCLIP: "class_text_features", SemanticCenters: "model"}.get(cls, "n_clusters")
    assert set(cls._parameter_constraints) == {p.name for p in params}  # every parameter declared, once


@pytest.mark.parametrize("cls", CLASSES)
def test_clone_set_params_refit(cls, blobs):
    est = fitted_free(cls, blobs)
    twin = clone(est)
    assert twin is not est and twin.get_params().keys() == est.get_params().keys()
    labels = est.fit_predict(blobs.image_features)
    np.testing.assert_array_equal(clone(est).fit(blobs.image_features).labels_, labels)  # clone: unfitted, same result
    assert not hasattr(clone(est), "labels_")
    with pytest.raises(ValueError, match="Invalid parameter"): clone(est).set_params(no_such_parameter=1)
    first = next(iter(est.get_params()))
    with pytest.raises(InvalidParameterError, match=f"'{first}' parameter of {cls.__name__}"):
        clone(est).set_params(**{first: "many"}).fit(blobs.image_features)


def test_set_params_changes_the_fit(blobs):
    est = NTKSpectralClustering(4, text_features=blobs.text_features, variant="naive")
    a = est.fit(blobs.image_features).affinity_
    assert est.set_params(knn=10) is est
    b = est.fit(blobs.image_features).affinity_
    assert b.nnz < a.nnz and est.get_params()["knn"] == 10


def test_pipeline(blobs):
    x, y = blobs.image_features * 3.0, blobs.labels  # not unit rows: the normaliser has work to do
    pipe = make_pipeline(Normalizer(), ClipKMeans(4))
    labels = pipe.fit_predict(x)
    assert adjusted_rand_score(labels, ClipKMeans(4).fit_predict(x)) == 1.0  # ClipKMeans normalises rows itself
    assert normalized_mutual_info_score(y, labels) > 0.3
    # RelationalKMeans as a transformer: the rows of C, clustered by another estimator
    c_then_kmeans = make_pipeline(RelationalKMeans(4, text_features=blobs.text_features), KMeans(4, n_init=10, random_state=0))
    assert normalized_mutual_info_score(y, c_then_kmeans.fit_predict(x)) > normalized_mutual_info_score(y, labels)


def planted_nmi(est, X, y):
    "A scorer for transductive clusterers: the NMI of the labels of the fit against the planted ones."
    return normalized_mutual_info_score(y, est.labels_)


def test_grid_search_tau_and_graph(blobs):
    x, y = blobs.image_features, blobs.labels
    grid = {"tau": [0.01, 0.04, 1.0], "graph": ["union", "mutual"]}
    everything = [(np.arange(len(x)), np.arange(len(x)))]  # clusterers are transductive: fit and score on all images
    search = GridSearchCV(NTKSpectralClustering(4, text_features=blobs.prompt_text_features, variant="pe"), grid,
                          scoring=planted_nmi, cv=everything, error_score="raise").fit(x, y)
    scores = {(p["tau"], p["graph"]): s for p, s in zip(search.cv_results_["params"], search.cv_results_["mean_test_score"])}
    print("\nGridSearchCV NMI (synthetic, PE):", {k: round(v, 3) for k, v in scores.items()}, "best", search.best_params_)
    assert len(scores) == 6 and np.isfinite(list(scores.values())).all()  # every combination ran
    # a hot softmax (tau = 1) spreads every image over all nouns: the nouns stop separating the confusable pairs
    assert search.best_params_["tau"] < 1.0
    assert search.best_score_ > max(scores[(1.0, g)] for g in grid["graph"])
    np.testing.assert_array_equal(search.best_estimator_.labels_, clone(search.best_estimator_).fit(x).labels_)  # refit


def test_one_fit_checks_each_graph_once_and_solves_once(blobs, monkeypatch):
    "NTK-SC (RAD, K estimated): no affinity check after RAD's own door, one eigensolve for the estimate and the embedding."
    calls = {"check_affinity": 0, "_top_eigenpairs": 0}
    def counted(module, name):
        real = getattr(module, name)
        def wrapper(*a, **k):
            calls[name] += 1
            return real(*a, **k)
        return wrapper
    monkeypatch.setattr(laic_nb.spectral, "check_affinity", counted(laic_nb.spectral, "check_affinity"))
    monkeypatch.setattr(laic_nb.rad, "check_affinity", counted(laic_nb.rad, "check_affinity"))
    monkeypatch.setattr(laic_nb.spectral, "_top_eigenpairs", counted(laic_nb.spectral, "_top_eigenpairs"))
    pt = blobs.prompt_text_features
    est = NTKSpectralClustering(None, text_features=pt, variant="rad").fit(blobs.image_features)
    assert 2 <= est.n_clusters_ <= 20
    assert calls["_top_eigenpairs"] == 1
    assert calls["check_affinity"] == len(pt)  # once per prompt graph (RAD's door), never after RAD


def test_known_k_labels_do_not_depend_on_the_door(blobs):
    "The estimator's trusting path gives the labels of the validating public function."
    from laic_nb.spectral import spectral_clustering
    est = NTKSpectralClustering(4, text_features=blobs.text_features, variant="naive").fit(blobs.image_features)
    np.testing.assert_array_equal(est.labels_, spectral_clustering(est.affinity_, 4))
