import inspect
import re
import subprocess
import sys

import numpy as np
import pytest

from distil_explorer.analysis import hidden
from distil_explorer.analysis.hidden import (
    Projection,
    common_basis,
    layer_similarity,
    layer_similarity_matrix,
    pca,
    token_norms,
)


def test_token_norms_are_euclidean_and_nan_at_padding():
    states = np.zeros((2, 1, 3, 2))
    states[0, 0, 0] = [3.0, 4.0]
    states[1, 0, 1] = [0.0, 2.0]
    states[:, 0, 2] = 99.0  # padding
    norms = token_norms(states, np.array([[1, 1, 0]]))
    assert norms.shape == (2, 1, 3)
    np.testing.assert_array_equal(norms[:, 0, :2], [[5.0, 0.0], [0.0, 2.0]])
    assert np.isnan(norms[:, 0, 2]).all()


def test_cosine_of_identical_states_is_1():
    states = np.repeat(np.random.default_rng(0).normal(size=(1, 2, 3, 5)), 4, axis=0)
    similarity = layer_similarity(states)
    assert similarity.shape == (3, 2, 3)
    np.testing.assert_allclose(similarity, 1.0, rtol=1e-12)


def test_layer_similarity_of_scaled_negated_and_orthogonal_states():
    states = np.zeros((4, 1, 1, 2))
    states[:, 0, 0] = [[1.0, 0.0], [5.0, 0.0], [-2.0, 0.0], [0.0, 3.0]]
    np.testing.assert_allclose(layer_similarity(states)[:, 0, 0], [1.0, -1.0, 0.0])


def test_layer_similarity_is_nan_at_padding_and_0_for_zero_vectors():
    states = np.ones((2, 1, 3, 2))
    states[1, 0, 1] = 0.0
    similarity = layer_similarity(states, np.array([[1, 1, 0]]))
    np.testing.assert_allclose(similarity[0, 0, :2], [1.0, 0.0], atol=1e-12)
    assert np.isnan(similarity[0, 0, 2])


def test_similarity_matrix_averages_over_real_tokens_only():
    states = np.zeros((3, 2, 3, 2))
    states[:, :, :, 0] = 1.0  # layers 0 and 1 point along x
    states[2, 1, 0] = [0.0, 1.0]  # row 1, token 0 turns 90 degrees at layer 2
    states[2, 1, 2] = [-1.0, 0.0]  # row 1, token 2 is padding and flips
    mask = np.array([[1, 1, 1], [1, 1, 0]])
    np.testing.assert_allclose(
        layer_similarity_matrix(states, mask, 0), np.ones((3, 3))
    )
    matrix = layer_similarity_matrix(states, mask, index=1)
    expected = np.array([[1.0, 1.0, 0.5], [1.0, 1.0, 0.5], [0.5, 0.5, 1.0]])
    np.testing.assert_allclose(matrix, expected)


def test_similarity_matrix_checks_index():
    with pytest.raises(ValueError, match=r"index=2: out of range; allowed: 0..1"):
        layer_similarity_matrix(np.ones((2, 2, 3, 4)), index=2)


def test_pca_of_points_on_a_line_explains_everything_with_one_component():
    line = np.outer(np.arange(5.0), [1.0, 2.0, 2.0])[None]
    result = pca(line, np.ones((1, 5)))
    assert isinstance(result, Projection)
    np.testing.assert_allclose(result.explained_variance_ratio, [1.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(result.points[:, 0], [-6, -3, 0, 3, 6], atol=1e-12)
    np.testing.assert_array_equal(result.points[:, 1], 0.0)
    np.testing.assert_allclose(result.components[0], [1 / 3, 2 / 3, 2 / 3])
    np.testing.assert_array_equal(result.components[1], 0.0)


def test_pca_sign_is_fixed_by_the_largest_coordinate():
    rng = np.random.default_rng(1)
    points = rng.normal(size=(1, 20, 6)) * [5, 4, 3, 2, 1, 0.5]
    first = pca(points, np.ones((1, 20)), n_components=3)
    flipped = pca(-points, np.ones((1, 20)), n_components=3)
    largest = np.abs(first.components).argmax(axis=1)
    assert (first.components[np.arange(3), largest] > 0).all()
    # Negated data: same components, negated coordinates.
    np.testing.assert_allclose(flipped.components, first.components, atol=1e-12)
    np.testing.assert_allclose(flipped.points, -first.points, atol=1e-12)
    np.testing.assert_allclose(
        first.components @ first.components.T, np.eye(3), atol=1e-12
    )


def test_pca_matches_covariance_eigenvalues():
    rng = np.random.default_rng(2)
    points = rng.normal(size=(30, 4)) @ rng.normal(size=(4, 4))
    result = pca(points[None], np.ones((1, 30)), n_components=4)
    eigenvalues = np.sort(np.linalg.eigvalsh(np.cov(points.T)))[::-1]
    np.testing.assert_allclose(
        result.explained_variance_ratio, eigenvalues / eigenvalues.sum()
    )


def test_pca_skips_padding_and_records_positions():
    states = np.zeros((2, 3, 2))
    states[0, :, 0] = [0.0, 1.0, 2.0]
    states[1, 0, 0] = 3.0
    states[1, 1:] = 1e6  # padding: would dominate if it counted
    mask = np.array([[1, 1, 1], [1, 0, 0]])
    result = pca(states, mask)
    np.testing.assert_array_equal(result.positions, [[0, 0], [0, 1], [0, 2], [1, 0]])
    np.testing.assert_allclose(result.points[:, 0], [-1.5, -0.5, 0.5, 1.5])


def test_one_token_gives_zero_components():
    result = pca(np.ones((1, 1, 4)), np.ones((1, 1)))
    np.testing.assert_array_equal(result.points, [[0.0, 0.0]])
    np.testing.assert_array_equal(result.explained_variance_ratio, [0.0, 0.0])


def test_common_basis_keeps_axes_fixed_across_layers():
    rng = np.random.default_rng(3)
    states = rng.normal(size=(3, 1, 8, 5))
    mask = np.ones((1, 8))
    basis = common_basis(states, mask)
    assert basis.points.shape == (24, 2) and basis.positions.shape == (24, 3)
    np.testing.assert_array_equal(basis.positions[8], [1, 0, 0])
    for layer in range(3):
        projected = pca(states[layer], mask, basis=basis)
        np.testing.assert_array_equal(projected.components, basis.components)
        np.testing.assert_allclose(
            projected.points, basis.points[8 * layer : 8 * layer + 8]
        )
        assert (projected.explained_variance_ratio <= 1.0).all()


def test_pca_with_a_basis_reports_this_layers_variance_along_fixed_axes():
    x_line = np.zeros((1, 4, 2))
    x_line[0, :, 0] = np.arange(4.0)
    y_line = x_line[..., ::-1]
    basis = pca(x_line, np.ones((1, 4)))
    np.testing.assert_allclose(basis.explained_variance_ratio, [1.0, 0.0])
    # Reusing the x basis for data along y: none of it lies on PC1.
    assert pca(y_line, np.ones((1, 4)), basis=basis).explained_variance_ratio[0] == 0.0


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_components": 4}, r"n_components=4: out of range; allowed: 1..3"),
        ({"n_components": 0}, r"n_components=0: out of range"),
        ({"n_components": 1.5}, r"n_components=1.5: allowed: an int"),
        ({"padding_mask": np.ones((1, 4))}, r"padding_mask shape=\(1, 4\)"),
    ],
)
def test_pca_rejects_bad_arguments(kwargs, match):
    args = {"hidden_states_layer": np.ones((1, 5, 3)), "padding_mask": np.ones((1, 5))}
    with pytest.raises(ValueError, match=match):
        pca(**{**args, **kwargs})


def test_bad_shapes_raise():
    with pytest.raises(ValueError, match=r"hidden_states shape=\(2, 3, 4\)"):
        token_norms(np.ones((2, 3, 4)), np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"hidden_states_layer shape=\(3, 4\)"):
        pca(np.ones((3, 4)), np.ones((3,)))
    with pytest.raises(ValueError, match="basis: fitted on H=3"):
        pca(
            np.ones((1, 2, 5)), np.ones((1, 2)), basis=pca(np.ones((1, 2, 3)), [[1, 1]])
        )


def test_docstring_examples_run():
    for name in dir(hidden):
        obj = getattr(hidden, name)
        if getattr(obj, "__module__", None) != hidden.__name__ or not obj.__doc__:
            continue
        for block in re.findall(r"```python\n(.+?)```", inspect.getdoc(obj), re.S):
            exec(block, {})


def test_analysis_imports_neither_keras_nor_matplotlib():
    code = (
        "import sys, distil_explorer.analysis.attention as a, "
        "distil_explorer.analysis.hidden as h;"
        "bad = [m for m in ('keras', 'matplotlib', 'torch') if m in sys.modules];"
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
