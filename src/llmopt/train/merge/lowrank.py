"""Low-rank factors of a weight difference (pure math: tensors in, factors out).

A difference dW (out x in) is written as B @ A with A (rank x in) and B (out x rank), from its singular value
decomposition dW = U S Vh: A = sqrt(S) Vh[:rank], B = U[:, :rank] sqrt(S). Splitting S evenly keeps A and B on
one scale, which matters once they are stored in half precision. By Eckart-Young no rank-r matrix is closer to
dW in Frobenius norm, and the error is the norm of the singular values left out.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

SVD_METHODS = ("exact", "lowrank")
LOWRANK_OVERSAMPLING = 10  # extra directions the randomized SVD looks at beyond the rank it returns
LOWRANK_ITERATIONS = 4  # power iterations: enough for the singular value decay of trained weight deltas


@dataclass(frozen=True)
class Factors:
    """dW ~ b @ a, and how far from dW that is (measured on the factors as stored, in their dtype)."""

    a: torch.Tensor  # (rank, in)
    b: torch.Tensor  # (out, rank)
    rel_error: float  # ||dW - b a||_F / ||dW||_F
    max_abs_error: float  # max |dW - b a|

    @property
    def rank(self) -> int:
        return self.a.shape[0]


def numerical_rank(singular: torch.Tensor, shape: tuple[int, int]) -> int:
    """Singular values above float32 rounding of the largest one (numpy's matrix_rank tolerance): the rank the
    difference really has, whatever rank was asked for."""
    if singular.numel() == 0 or singular[0] <= 0:
        return 0
    tolerance = singular[0] * max(shape) * torch.finfo(torch.float32).eps
    return int((singular > tolerance).sum())


def choose_rank(singular: torch.Tensor, total_sq: float, max_rank: int, max_error: float | None = None) -> int:
    """The rank to keep, at most max_rank (callers cap it at the numerical rank first); with max_error, the
    smallest rank whose relative Frobenius error sqrt(||dW||^2 - sum of kept s_i^2) / ||dW|| is at most
    max_error (max_rank when none is)."""
    rank = min(max_rank, singular.numel())
    if max_error is None or rank == 0 or total_sq <= 0:
        return rank
    kept_sq = torch.cumsum(singular[:rank].double() ** 2, 0)
    residual = torch.sqrt(torch.clamp(total_sq - kept_sq, min=0.0)) / total_sq ** 0.5
    reached = torch.nonzero(residual <= max_error)
    return int(reached[0]) + 1 if reached.numel() else rank


def factorize(delta: torch.Tensor, max_rank: int, *, max_error: float | None = None, svd: str = "exact",
              dtype: torch.dtype | None = None) -> Factors:
    """The best rank <= max_rank factors of a 2-D difference (computed in float32 on delta's device, returned on
    the CPU in dtype, default delta's). svd="lowrank" uses the randomized SVD (faster when the rank is much
    smaller than the matrix; approximate singular vectors)."""
    if delta.ndim != 2:
        raise ValueError(f"factorize takes a matrix, not a tensor of shape {tuple(delta.shape)}")
    if svd not in SVD_METHODS:
        raise ValueError(f"unknown SVD method {svd!r}; use one of {', '.join(SVD_METHODS)}")
    dtype = dtype or delta.dtype
    work = delta.to(torch.float32)
    total_sq = float(torch.linalg.vector_norm(work, dtype=torch.float64) ** 2)
    u, s, vh = _svd(work, max_rank, svd)
    rank = choose_rank(s, total_sq, min(max_rank, numerical_rank(s, tuple(work.shape))), max_error)
    root = torch.sqrt(s[:rank])
    a = (root[:, None] * vh[:rank]).to(dtype)
    b = (u[:, :rank] * root[None, :]).to(dtype)
    rel_error, max_abs_error = reconstruction_error(work, a, b, total_sq)
    return Factors(a.cpu(), b.cpu(), rel_error, max_abs_error)


def _svd(work: torch.Tensor, max_rank: int, svd: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    if svd == "lowrank" and max_rank + LOWRANK_OVERSAMPLING < min(work.shape):
        u, s, v = torch.svd_lowrank(work, q=max_rank + LOWRANK_OVERSAMPLING, niter=LOWRANK_ITERATIONS)
        return u, s, v.mT
    return torch.linalg.svd(work, full_matrices=False)


def reconstruction_error(delta: torch.Tensor, a: torch.Tensor, b: torch.Tensor,
                         total_sq: float | None = None) -> tuple[float, float]:
    """(relative Frobenius error, max absolute error) of b @ a against delta, with a and b as stored."""
    residual = delta.to(torch.float32) - b.to(delta.device, torch.float32) @ a.to(delta.device, torch.float32)
    if total_sq is None:
        total_sq = float(torch.linalg.vector_norm(delta, dtype=torch.float64) ** 2)
    error = float(torch.linalg.vector_norm(residual, dtype=torch.float64))
    max_abs = float(residual.abs().max()) if residual.numel() else 0.0
    return (error / total_sq ** 0.5 if total_sq > 0 else 0.0), max_abs
