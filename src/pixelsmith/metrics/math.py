"""The arithmetic of the distribution metrics, on feature tensors (no networks here).

Everything is computed in float64 on the CPU: FID in particular loses digits in float32.
"""

from __future__ import annotations

import torch


def mean_cov(feats: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean (D,) and unbiased covariance (D, D) of (N, D) features."""
    f = feats.detach().to("cpu", torch.float64)
    if f.shape[0] < 2:
        raise ValueError("need at least 2 feature vectors for a covariance")
    mu = f.mean(0)
    d = f - mu
    return mu, d.T @ d / (f.shape[0] - 1)


def frechet_distance(mu1: torch.Tensor, sigma1: torch.Tensor,
                     mu2: torch.Tensor, sigma2: torch.Tensor) -> float:
    """||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2)).

    Tr((S1 S2)^(1/2)) is the sum of square roots of the eigenvalues of S1 S2, which equal
    those of the symmetric PSD matrix S1^(1/2) S2 S1^(1/2); computing them that way keeps
    them real and non-negative (tiny negatives from rounding are clipped to 0).
    """
    mu1, mu2, s1, s2 = (t.to("cpu", torch.float64) for t in (mu1, mu2, sigma1, sigma2))
    w, v = torch.linalg.eigh((s1 + s1.T) / 2)
    root1 = (v * w.clamp(min=0).sqrt()) @ v.T  # S1^(1/2)
    m = root1 @ s2 @ root1
    eig = torch.linalg.eigvalsh((m + m.T) / 2).clamp(min=0)
    tr_covmean = eig.sqrt().sum()
    diff = mu1 - mu2
    return float(diff @ diff + torch.trace(s1) + torch.trace(s2) - 2 * tr_covmean)


def fid_from_features(real: torch.Tensor, fake: torch.Tensor) -> float:
    return frechet_distance(*mean_cov(real), *mean_cov(fake))


def kid_from_features(real: torch.Tensor, fake: torch.Tensor, *, num_subsets: int = 100,
                      subset_size: int = 1000, seed: int = 0) -> tuple[float, float]:
    """Kernel Inception Distance: unbiased MMD^2 with the cubic polynomial kernel
    k(x, y) = (x.y / D + 1)^3, averaged over random subsets; returns (mean, std).

    torchmetrics' ``poly_mmd`` computes the unbiased estimate for one subset.
    """
    from torchmetrics.image.kid import poly_mmd

    real = real.to("cpu", torch.float64)
    fake = fake.to("cpu", torch.float64)
    m = min(subset_size, real.shape[0], fake.shape[0])
    if m < 2:
        raise ValueError("KID needs at least 2 real and 2 generated feature vectors")
    g = torch.Generator().manual_seed(seed)
    values = []
    for _ in range(num_subsets):
        r = real[torch.randperm(real.shape[0], generator=g)[:m]]
        f = fake[torch.randperm(fake.shape[0], generator=g)[:m]]
        values.append(poly_mmd(r, f, degree=3, gamma=None, coef=1.0))
    v = torch.stack(values)
    return float(v.mean()), float(v.std(unbiased=False))


def inception_score(probs: torch.Tensor, *, num_splits: int = 10) -> tuple[float, float]:
    """exp(E_x KL(p(y|x) || p(y))) over ``num_splits`` equal parts; returns (mean, std)."""
    p = probs.detach().to("cpu", torch.float64)
    splits = min(num_splits, p.shape[0])
    scores = []
    for part in torch.tensor_split(p, splits):
        py = part.mean(0, keepdim=True)
        kl = (part * (torch.log(part.clamp(min=1e-12)) - torch.log(py.clamp(min=1e-12)))).sum(1)
        scores.append(torch.exp(kl.mean()))
    s = torch.stack(scores)
    return float(s.mean()), float(s.std(unbiased=False)) if splits > 1 else 0.0


def _knn_radii(feats: torch.Tensor, k: int) -> torch.Tensor:
    """Distance from each point to its k-th nearest neighbour in the same set (self excluded)."""
    d = torch.cdist(feats, feats)
    return d.kthvalue(k + 1, dim=1).values  # the 1st smallest is the point itself (0)


def _inside(points: torch.Tensor, centres: torch.Tensor, radii: torch.Tensor,
            batch: int = 1024) -> torch.Tensor:
    out = []
    for i in range(0, points.shape[0], batch):
        d = torch.cdist(points[i : i + batch], centres)  # (b, M)
        out.append((d <= radii[None]).any(1))
    return torch.cat(out)


def precision_recall(real: torch.Tensor, fake: torch.Tensor, *, k: int = 3
                     ) -> tuple[float, float]:
    """Improved precision and recall (Kynkaanniemi et al. 2019): a manifold is the union of
    balls around each sample with radius its distance to the k-th nearest neighbour.
    Precision: share of generated samples inside the real manifold; recall: share of real
    samples inside the generated manifold."""
    real = real.to("cpu", torch.float32)
    fake = fake.to("cpu", torch.float32)
    if min(real.shape[0], fake.shape[0]) <= k:
        raise ValueError(f"precision/recall with k={k} needs more than {k} samples per set")
    precision = _inside(fake, real, _knn_radii(real, k)).double().mean()
    recall = _inside(real, fake, _knn_radii(fake, k)).double().mean()
    return float(precision), float(recall)
