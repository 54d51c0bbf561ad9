"""Fréchet Inception Distance: the Fréchet distance of two Gaussians fitted to feature sets.

The distance follows pytorch-fid's `calculate_frechet_distance` step for step (scipy's `sqrtm` of
the covariance product, the same eps fallback and imaginary-part check), so a number computed
here compares with published ones. `FeatureStats` fits the Gaussian from running sums in float64,
so a whole test split's frames are embedded batch by batch and never held at once.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import linalg

from diffdub_jax.errors import InvalidInputError


class FeatureStats:
    """Count, sum and sum of outer products of feature vectors, accumulated in float64."""

    def __init__(self) -> None:
        self.count = 0
        self.total: np.ndarray | None = None
        self.outer: np.ndarray | None = None

    def add(self, features: np.ndarray) -> None:
        """Adds (N, D) feature vectors."""
        features = np.asarray(features, np.float64)
        if features.ndim != 2:
            raise ValueError(f"features must be (N, D), got {features.shape}")
        if self.total is None:
            self.total = np.zeros(features.shape[1])
            self.outer = np.zeros((features.shape[1], features.shape[1]))
        self.count += len(features)
        self.total += features.sum(axis=0)
        self.outer += features.T @ features

    def mean_and_covariance(self) -> tuple[np.ndarray, np.ndarray]:
        """The mean and the unbiased covariance (numpy's `np.cov(features, rowvar=False)`)."""
        if self.count < 2:
            raise InvalidInputError(f"a covariance needs at least 2 feature vectors, got {self.count}")
        mean = self.total / self.count
        return mean, (self.outer - self.count * np.outer(mean, mean)) / (self.count - 1)


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray,
                     eps: float = 1e-6) -> float:
    """||mu1 - mu2||^2 + Tr(sigma1 + sigma2 - 2 sqrt(sigma1 sigma2)). A singular product (few
    samples for the dimension) has no finite square root: then eps is added to both diagonals,
    as pytorch-fid does; a square root with a large imaginary part is a ValueError."""
    mu1, mu2 = np.atleast_1d(mu1), np.atleast_1d(mu2)
    sigma1, sigma2 = np.atleast_2d(sigma1), np.atleast_2d(sigma2)
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape:
        raise ValueError(f"feature sets differ in dimension: means {mu1.shape} and {mu2.shape}, "
                         f"covariances {sigma1.shape} and {sigma2.shape}")
    root = linalg.sqrtm(sigma1 @ sigma2)
    if not np.isfinite(root).all():
        warnings.warn(f"FID: the covariance product is singular; adding {eps} to its diagonals", RuntimeWarning)
        offset = np.eye(sigma1.shape[0]) * eps
        root = linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
    if np.iscomplexobj(root):
        if not np.allclose(np.diagonal(root).imag, 0, atol=1e-3):
            raise ValueError(f"FID: the covariance product's square root has an imaginary component "
                             f"{np.max(np.abs(root.imag))}")
        root = root.real
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(root))


def fid(first: FeatureStats, second: FeatureStats) -> float:
    """The Fréchet distance of two accumulated feature sets."""
    return frechet_distance(*first.mean_and_covariance(), *second.mean_and_covariance())
