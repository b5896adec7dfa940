"""Slow, deliberately plain reference implementations of SPEC.md, used only by the tests.

Nothing here imports from ``redunet``: explicit inverses, loops over classes,
samples and frequencies, ``np.linalg.slogdet`` for log-determinants.
"""

import numpy as np


def softmax(scores):
    scores = scores - scores.max(axis=-1, keepdims=True)
    e = np.exp(scores)
    return e / e.sum(axis=-1, keepdims=True)


def encode(y):
    classes = sorted(set(np.asarray(y).tolist()))
    return np.array([classes.index(v) for v in np.asarray(y).tolist()]), len(classes)


# -- vector ReduNet (SPEC section 2) -------------------------------------------------------------
def vector_operators(Z, y_index, K, eps):
    m, d = Z.shape
    alpha = d / (m * eps)
    E = alpha * np.linalg.inv(np.eye(d) + alpha * Z.T @ Z)
    Cs, gammas = [], []
    for j in range(K):
        Zj = Z[y_index == j]
        alpha_j = d / (Zj.shape[0] * eps)
        Cs.append(alpha_j * np.linalg.inv(np.eye(d) + alpha_j * Zj.T @ Zj))
        gammas.append(Zj.shape[0] / m)
    return E, Cs, np.array(gammas)


def vector_objective(Z, y_index, K, eps):
    m, d = Z.shape
    rate = 0.5 * np.linalg.slogdet(np.eye(d) + d / (m * eps) * Z.T @ Z)[1]
    compression = 0.0
    for j in range(K):
        Zj = Z[y_index == j]
        mj = Zj.shape[0]
        compression += mj / m * 0.5 * np.linalg.slogdet(np.eye(d) + d / (mj * eps) * Zj.T @ Zj)[1]
    return rate, compression


def vector_update(Z, E, Cs, gammas, eta, lmbda):
    out = np.empty_like(Z)
    for i, z in enumerate(Z):
        pi = softmax(np.array([-lmbda * np.linalg.norm(C @ z) for C in Cs]))
        step = E @ z - sum(g * p * (C @ z) for g, p, C in zip(gammas, pi, Cs))
        new = z + eta * step
        out[i] = new / np.linalg.norm(new)
    return out


# -- twins of the compiled small vector kernels (redunet._kernels.small_vector_*) ----------------
def small_vector_scatters(Z, y_index, K):
    """``S_j = sum_{i in j} z_i z_i^T`` per class, by a loop over samples."""
    d = Z.shape[1]
    scatters = np.zeros((K, d, d))
    for z, j in zip(Z, y_index):
        scatters[j] += np.outer(z, z)
    return scatters


def small_vector_operators(scatters, counts, eps):
    """``C_0 .. C_{K-1}, E`` by explicit inverses and their slogdet log-determinants."""
    K, d, _ = scatters.shape
    groups = [(scatters[j], counts[j]) for j in range(K)] + [(scatters.sum(0), counts.sum())]
    operators, logdets = [], []
    for S, n in groups:
        alpha = d / (n * eps)
        operators.append(alpha * np.linalg.inv(np.eye(d) + alpha * S))
        logdets.append(np.linalg.slogdet(np.eye(d) + alpha * S)[1])
    return np.array(operators), np.array(logdets)


def small_vector_apply(Z, operators, gammas, eta, lmbda):
    """The update of :func:`vector_update` with ``operators = C_0 .. C_{K-1}, E``."""
    return vector_update(Z, operators[-1], list(operators[:-1]), gammas, eta, lmbda)


def vector_redunet(X, y, n_layers, eta=0.5, eps=0.1, lmbda=500.0):
    """Features after ``n_layers`` layers, the list of layer operators, and delta_R per layer."""
    y_index, K = encode(y)
    Z = X / np.linalg.norm(X, axis=1, keepdims=True)
    history, layers = [], []
    for _ in range(n_layers):
        rate, compression = vector_objective(Z, y_index, K, eps)
        history.append(rate - compression)
        E, Cs, gammas = vector_operators(Z, y_index, K, eps)
        layers.append((E, Cs, gammas))
        Z = vector_update(Z, E, Cs, gammas, eta, lmbda)
    rate, compression = vector_objective(Z, y_index, K, eps)
    history.append(rate - compression)
    return Z, layers, np.array(history)


def vector_apply(X, layers, eta=0.5, lmbda=500.0):
    Z = X / np.linalg.norm(X, axis=1, keepdims=True)
    for E, Cs, gammas in layers:
        Z = vector_update(Z, E, Cs, gammas, eta, lmbda)
    return Z


# -- shift-invariant ReduNet, dense block-circulant form (SPEC section 3) ---------------------------
def all_shifts(z):
    """Every cyclic shift of a multichannel sample z of shape (C, *spatial), flattened: (C*N, N)."""
    spatial = z.shape[1:]
    columns = []
    for shift in np.ndindex(*spatial):
        columns.append(np.roll(z, shift, axis=tuple(range(1, z.ndim))).ravel())
    return np.stack(columns, axis=1)


def dense_circulant_redunet(X, y, n_layers, eta=0.5, eps=0.1, lmbda=500.0):
    """The vector ReduNet on vectorized samples with operators from all cyclic shifts.

    ``E = alpha * inv(I + (alpha / N) sum_i circ(z_i) circ(z_i)^T)`` with ``alpha = C / (m eps)``,
    ``N`` the number of shifts (T or H*W).  Returns final features (m, C, *spatial), the
    layers, and ``delta_R = 1/(2N) [logdet(...) - sum_j gamma_j logdet(...)]`` per layer.
    """
    y_index, K = encode(y)
    m, C = X.shape[:2]
    N = int(np.prod(X.shape[2:]))
    D = C * N
    Z = X.reshape(m, -1) / np.linalg.norm(X.reshape(m, -1), axis=1, keepdims=True)
    history, layers = [], []

    def scatter(rows):
        return sum(all_shifts(Z[i].reshape(X.shape[1:])) @ all_shifts(Z[i].reshape(X.shape[1:])).T
                   for i in rows)

    for _ in range(n_layers + 1):
        alpha = C / (m * eps)
        A = np.eye(D) + alpha / N * scatter(range(m))
        rate = np.linalg.slogdet(A)[1] / (2 * N)
        E = alpha * np.linalg.inv(A)
        Cs, gammas, compression = [], [], 0.0
        for j in range(K):
            rows = np.flatnonzero(y_index == j)
            alpha_j = C / (rows.size * eps)
            Aj = np.eye(D) + alpha_j / N * scatter(rows)
            Cs.append(alpha_j * np.linalg.inv(Aj))
            gammas.append(rows.size / m)
            compression += rows.size / m * np.linalg.slogdet(Aj)[1] / (2 * N)
        history.append(rate - compression)
        if len(layers) == n_layers:
            break
        layers.append((E, Cs, np.array(gammas)))
        Z = vector_update(Z, E, Cs, np.array(gammas), eta, lmbda)
    return Z.reshape(X.shape), layers, np.array(history)


# -- shift-invariant ReduNet, full complex spectrum with a loop over frequencies ------------------
def full_spectrum_redunet(X, y, n_layers, eta=0.5, eps=0.1, lmbda=500.0):
    """SPEC section 3 with the full spectrum (np.fft.fftn over the spatial axes), explicit
    inverses and a Python loop over every frequency.  Returns features (m, C, *spatial)."""
    y_index, K = encode(y)
    m, C = X.shape[:2]
    axes = tuple(range(2, X.ndim))
    Z = X / np.linalg.norm(X.reshape(m, -1), axis=1).reshape((-1,) + (1,) * (X.ndim - 1))
    V = np.fft.fftn(Z, axes=axes, norm="ortho").reshape(m, C, -1)     # (m, C, F)
    F = V.shape[2]
    for _ in range(n_layers):
        alpha = C / (m * eps)
        E = [alpha * np.linalg.inv(np.eye(C) + alpha * V[:, :, f].T @ V[:, :, f].conj())
             for f in range(F)]
        Cs, gammas = [], []
        for j in range(K):
            Vj = V[y_index == j]
            alpha_j = C / (Vj.shape[0] * eps)
            Cs.append([alpha_j * np.linalg.inv(np.eye(C) + alpha_j * Vj[:, :, f].T @ Vj[:, :, f].conj())
                       for f in range(F)])
            gammas.append(Vj.shape[0] / m)
        new = np.empty_like(V)
        for i in range(m):
            v = V[i]
            norms = [np.sqrt(sum(np.linalg.norm(Cj[f] @ v[:, f]) ** 2 for f in range(F)))
                     for Cj in Cs]
            pi = softmax(-lmbda * np.array(norms))
            for f in range(F):
                step = E[f] @ v[:, f] - sum(g * p * (Cj[f] @ v[:, f])
                                            for g, p, Cj in zip(gammas, pi, Cs))
                new[i, :, f] = v[:, f] + eta * step
            new[i] /= np.linalg.norm(new[i])
        V = new
    out = np.fft.ifftn(V.reshape(X.shape), axes=axes, norm="ortho")
    return out.real


# -- nearest subspace ------------------------------------------------------------------------------
def nearest_subspace_predict(Z_train, y_train, Z_test, k):
    """Plain nearest subspace: per class, top-k right singular vectors of its rows."""
    y_index, K = encode(y_train)
    residuals = np.zeros((Z_test.shape[0], K))
    for j in range(K):
        _, s, Vt = np.linalg.svd(Z_train[y_index == j], full_matrices=False)
        rank = int(np.sum(s > s[0] * 1e-10))
        U = Vt[:min(k, rank)].T
        residuals[:, j] = np.linalg.norm(Z_test - Z_test @ U @ U.T, axis=1)
    return np.argmin(residuals, axis=1)


# -- refining a fitted vector ReduNet with a new batch (partial_fit) ------------------------------
def vector_refine(X1, y1, X2, y2, n_layers, tau=None, eta=0.5, eps=0.1, lmbda=500.0):
    """Layers of ``vector_redunet(X1, y1)`` refined by the batch ``(X2, y2)``, layer after layer.

    ``tau=None``: operators of the union of the old features (under the old layers) and the
    batch's features (under the refined layers).  A float: ``P + tau (P_new - P)`` with
    ``P_new`` from the batch alone, for ``E`` and every class present in the batch.
    """
    y1_index, K = encode(y1)
    classes = sorted(set(np.asarray(y1).tolist()))
    y2_index = np.array([classes.index(v) for v in np.asarray(y2).tolist()])
    _, layers, _ = vector_redunet(X1, y1, n_layers, eta, eps, lmbda)
    Z1 = X1 / np.linalg.norm(X1, axis=1, keepdims=True)
    Z2 = X2 / np.linalg.norm(X2, axis=1, keepdims=True)
    d = X1.shape[1]
    refined = []
    for E, Cs, gammas in layers:
        if tau is None:
            E2, Cs2, g2 = vector_operators(np.vstack([Z1, Z2]), np.concatenate([y1_index, y2_index]),
                                           K, eps)
        else:
            def fresh(Z):
                alpha = d / (Z.shape[0] * eps)
                return alpha * np.linalg.inv(np.eye(d) + alpha * Z.T @ Z)
            E2 = E + tau * (fresh(Z2) - E)
            Cs2 = [C + tau * (fresh(Z2[y2_index == j]) - C) if np.any(y2_index == j) else C
                   for j, C in enumerate(Cs)]
            g2 = gammas
        refined.append((E2, Cs2, g2))
        Z1 = vector_update(Z1, E, Cs, gammas, eta, lmbda)
        Z2 = vector_update(Z2, E2, Cs2, g2, eta, lmbda)
    return refined
