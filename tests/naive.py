"""Slow, deliberately plain reference implementations, used by the tests and the benchmarks.

Nothing here imports from ``redunet``: explicit inverses, loops over classes and
frequencies, ``np.linalg.slogdet`` for log-determinants, dense operators for every
class.  Updates are vectorized over samples only, so that the benchmarks time what a
careful user would write from the paper, not a per-sample Python loop.  Every numba
kernel of ``redunet._kernels`` has its twin here (section "kernel twins").
"""

import numpy as np


def softmax(scores):
    scores = scores - scores.max(axis=-1, keepdims=True)
    e = np.exp(scores)
    return e / e.sum(axis=-1, keepdims=True)


def encode(y):
    classes = sorted(set(np.asarray(y).tolist()))
    return np.array([classes.index(v) for v in np.asarray(y).tolist()]), len(classes)


# -- vector ReduNet (docs/math.rst, "The vector layer") -------------------------------------------------------------
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
    """``z + eta (E z - sum_j gamma_j pi_j(z) C_j z)``, then ``z / ||z||``, for every row."""
    compressed = [Z @ C.T for C in Cs]
    pi = softmax(np.stack([-lmbda * np.linalg.norm(CZ, axis=1) for CZ in compressed], axis=1))
    step = Z @ E.T
    for j, CZ in enumerate(compressed):
        step -= gammas[j] * pi[:, j:j + 1] * CZ
    new = Z + eta * step
    return new / np.linalg.norm(new, axis=1, keepdims=True)


# -- kernel twins: one per compiled kernel of redunet._kernels ----------------------------------
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


def lower_triangular_inverse(L):
    """Twin of ``_kernels.lower_triangular_inverse``: the inverse of every matrix of the batch."""
    return np.stack([np.tril(np.linalg.inv(matrix)) for matrix in L])


def lowrank_sq_norms(coefficients, gram, power, weights):
    """Twin of ``_kernels.lowrank_sq_norms``: ``sum_f w_f (power_f - 2 ||c_f||^2 + c_f^H G_f c_f)``
    per sample, by a loop over frequencies."""
    out = np.zeros(coefficients.shape[1])
    for f in range(coefficients.shape[0]):
        c = coefficients[f]
        quadratic = np.einsum("ia,ab,ib->i", c.conj(), gram[f], c).real
        out += weights[f] * (power[f] - 2 * np.sum(np.abs(c) ** 2, axis=1) + quadratic)
    return out


def step_and_normalize(V, step, shrink, weights, eta):
    """Twin of ``_kernels.step_and_normalize``: ``v (1 - eta shrink) + eta step``, then divided
    by its full-spectrum norm ``sqrt(sum_f w_f ||v_f||^2)``."""
    new = V * (1 - eta * shrink)[None, :, None] + eta * step
    return new / np.sqrt(np.einsum("f,fmc->m", weights, np.abs(new) ** 2))[None, :, None]


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


# -- shift-invariant ReduNet, dense block-circulant form (docs/math.rst, "Shift invariance") ---------------------------
def all_shifts(z):
    """Every cyclic shift of a multichannel sample z of shape (C, *spatial), flattened: (C*N, N)."""
    return circulants(z[None])[0]


def circulants(Z):
    """:func:`all_shifts` of every sample of ``Z`` (n, C, *spatial): shape (n, C*N, N)."""
    axes = tuple(range(2, Z.ndim))
    return np.stack([np.roll(Z, shift, axis=axes).reshape(Z.shape[0], -1)
                     for shift in np.ndindex(*Z.shape[2:])], axis=2)


def circulant_scatter(Z):
    """``sum_i circ(z_i) circ(z_i)^T`` of the samples ``Z`` (n, C, *spatial)."""
    shifts = circulants(Z)
    stacked = shifts.transpose(1, 0, 2).reshape(shifts.shape[1], -1)
    return stacked @ stacked.T


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
        return circulant_scatter(Z[rows].reshape((-1,) + X.shape[1:]))

    for _ in range(n_layers + 1):
        alpha = C / (m * eps)
        A = np.eye(D) + alpha / N * scatter(np.arange(m))
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
def spectral_operator(Vf, eps, n_channels):
    """``alpha inv(I + alpha V^T conj(V))`` of the samples ``Vf`` (n, C) at one frequency, and
    ``logdet(I + alpha ...)``, with ``alpha = C / (n eps)``."""
    alpha = n_channels / (Vf.shape[0] * eps)
    A = np.eye(n_channels) + alpha * Vf.T @ Vf.conj()
    return alpha * np.linalg.inv(A), np.linalg.slogdet(A)[1]


def full_spectrum_redunet(X, y, n_layers, eta=0.5, eps=0.1, lmbda=500.0):
    """The shift-invariant ReduNet on the full spectrum (np.fft.fftn over the spatial axes),
    explicit inverses and a Python loop over every frequency and class.

    Returns the features (m, C, *spatial), the layers ``(E, Cs, gammas)`` (a list of F
    matrices for ``E`` and for every class) and ``delta_R`` per layer, the input of every
    layer then the output of the last one.
    """
    y_index, K = encode(y)
    m, C = X.shape[:2]
    axes = tuple(range(2, X.ndim))
    Z = X / np.linalg.norm(X.reshape(m, -1), axis=1).reshape((-1,) + (1,) * (X.ndim - 1))
    V = np.fft.fftn(Z, axes=axes, norm="ortho").reshape(m, C, -1)     # (m, C, F)
    F = V.shape[2]
    gammas = np.array([np.mean(y_index == j) for j in range(K)])
    layers, history = [], []
    for index in range(n_layers + 1):
        E, rate = zip(*(spectral_operator(V[:, :, f], eps, C) for f in range(F)))
        Cs, compression = [], 0.0
        for j in range(K):
            Cj, logdets = zip(*(spectral_operator(V[y_index == j, :, f], eps, C)
                                for f in range(F)))
            Cs.append(Cj)
            compression += gammas[j] * sum(logdets)
        history.append((sum(rate) - compression) / (2 * F))
        if index == n_layers:
            break
        layers.append((E, Cs, gammas))
        compressed = [np.stack([V[:, :, f] @ Cj[f].T for f in range(F)], axis=2) for Cj in Cs]
        norms = np.stack([np.sqrt((np.abs(CV) ** 2).sum(axis=(1, 2))) for CV in compressed], 1)
        pi = softmax(-lmbda * norms)                                    # (m, K)
        new = np.stack([V[:, :, f] @ E[f].T for f in range(F)], axis=2)
        for j, CV in enumerate(compressed):
            new -= gammas[j] * pi[:, j, None, None] * CV
        V = V + eta * new
        V /= np.linalg.norm(V.reshape(m, -1), axis=1)[:, None, None]
    out = np.fft.ifftn(V.reshape(X.shape), axes=axes, norm="ortho")
    return out.real, layers, np.array(history)


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


# -- per-frequency kernels of one layer (twins of redunet._kernels) --------------------------------
def class_scatters(V, y_index, K):
    """S[j, f] = sum over the samples of class j of v_i(f) v_i(f)^H, as explicit outer products."""
    F, m, C = V.shape
    out = np.zeros((K, F, C, C), dtype=V.dtype)
    for j in range(K):
        for f in range(F):
            for i in range(m):
                if y_index[i] == j:
                    out[j, f] += np.outer(V[f, i], V[f, i].conj())
    return out


def scatters_by_class(V, order, bounds):
    """Scatters of the segments order[bounds[j]:bounds[j + 1]] of the samples of V (F, m, C)."""
    y_index = np.full(V.shape[1], -1)
    for j in range(len(bounds) - 1):
        y_index[order[bounds[j]:bounds[j + 1]]] = j
    return class_scatters(V, y_index, len(bounds) - 1)


def add_scatter(XT, first, stop, S, unit):
    """S plus the upper triangle of sum_i x_i x_i^H, x_i = XT[0, :, i] + unit XT[1, :, i],
    first <= i < stop."""
    X = XT[0, :, first:stop] + unit * XT[1, :, first:stop]
    return S + np.triu(X @ X.conj().T)


def mirror(S):
    """Hermitian matrices from their upper triangles."""
    upper = np.triu(S)
    return upper + np.triu(S, 1).conj().swapaxes(-1, -2)


def spectral_layer_update(V, E, Cs, gammas, weights, eta, lmbda):
    """The invariant update (docs/math.rst) of every sample of V (F, m, C) with explicit per-frequency operators.

    E : (F, C, C); Cs : list of (F, C, C), one per class.  Loops over samples and frequencies.
    """
    F, m, C = V.shape
    out = np.empty_like(V)
    for i in range(m):
        v = V[:, i]                                            # (F, C)
        norms = [np.sqrt(sum(weights[f] * np.linalg.norm(Cj[f] @ v[f]) ** 2 for f in range(F)))
                 for Cj in Cs]
        pi = softmax(-lmbda * np.array(norms))
        new = np.empty_like(v)
        for f in range(F):
            step = E[f] @ v[f] - sum(g * p * (Cj[f] @ v[f]) for g, p, Cj in zip(gammas, pi, Cs))
            new[f] = v[f] + eta * step
        total = sum(weights[f] * np.linalg.norm(new[f]) ** 2 for f in range(F))
        out[:, i] = new / np.sqrt(total)
    return out


def dense_layer(V, A, gammas, weights, eta, lmbda):
    """Twin of the fused kernel: A (F, K+1, C, C) holds E then the class operators."""
    return spectral_layer_update(V, A[:, 0], [A[:, 1 + j] for j in range(A.shape[1] - 1)], gammas,
                                 weights, eta, lmbda)


def fused_dense_layer(V, A, gammas, weights, eta, lmbda, order, classes, K):
    """Twin of the fused kernel: the samples ``order`` updated (the others zero) and the class
    scatters of the new features, sample ``order[i]`` in class ``classes[i]``."""
    out = np.zeros_like(V)
    out[:, order] = dense_layer(V[:, order], A, gammas, weights, eta, lmbda)
    return out, class_scatters(out[:, order], classes, K)


def stacked_sq_norms(P, offsets, C, weights):
    """sum_f w_f ||P[f, i, o:o+C]||^2 for every offset o and sample i, by loops."""
    F, B, _ = P.shape
    out = np.zeros((len(offsets), B))
    for k, o in enumerate(offsets):
        for i in range(B):
            out[k, i] = sum(weights[f] * np.vdot(P[f, i, o:o + C], P[f, i, o:o + C]).real
                            for f in range(F))
    return out


def stacked_lowrank_sq_norms(V, P, offsets, widths, scales, weights):
    """sum_f w_f (||v||^2 + sum_a scales[f, a] P[f, i, o_k + a]^2) per class k and sample i,
    by loops (real arrays; scales indexed from the first offset)."""
    F, B, _ = P.shape
    out = np.zeros((len(offsets), B))
    for k, (o, r) in enumerate(zip(offsets, widths)):
        for i in range(B):
            for f in range(F):
                e, s = P[f, i, o:o + r], scales[f, o - offsets[0]:o - offsets[0] + r]
                out[k, i] += weights[f] * (V[f, i] @ V[f, i] + np.sum(s * e * e))
    return out


def lowrank_sq_norm_from_factor(v, W):
    """||(I - W W^H) v||^2 from the dense projector."""
    r = v - W @ (W.conj().T @ v)
    return np.vdot(r, r).real


def stacked_step(V, P, offsets, shares, extra, shrink, weights, eta, threshold=0.0):
    """v (1 - eta shrink) + eta (P[.., :C] - sum_k s_k P[.., o_k:o_k+C] + extra), normalized;
    then real and imaginary parts below ``threshold`` in magnitude set to zero."""
    F, B, C = V.shape
    out = np.empty_like(V)
    for i in range(B):
        new = np.empty((F, C), dtype=V.dtype)
        for f in range(F):
            step = P[f, i, :C].copy()
            for k, o in enumerate(offsets):
                step -= shares[k, i] * P[f, i, o:o + C]
            if extra.size:
                step += extra[f, i]
            new[f] = V[f, i] * (1 - eta * shrink[i]) + eta * step
        total = sum(weights[f] * np.vdot(new[f], new[f]).real for f in range(F))
        out[:, i] = new / np.sqrt(total)
    parts = [out.real, out.imag] if np.iscomplexobj(out) else [out]
    for part in parts:
        part[np.abs(part) < threshold] = 0
    return out



def memberships(sq, lmbda, gammas):
    """gamma_j pi_j of one sample from its squared norms: pi = softmax(-lmbda sqrt(sq))."""
    return gammas * softmax(-lmbda * np.sqrt(np.maximum(sq, 0.0)))

def packed_hermitian(M):
    """A Hermitian C x C matrix as C^2 reals: diagonal, real parts of the upper triangle row by
    row, their imaginary parts; by loops."""
    C = M.shape[0]
    diagonal = [M[a, a].real for a in range(C)]
    upper = [M[a, b] for a in range(C) for b in range(a + 1, C)]
    return np.array(diagonal + [z.real for z in upper] + [z.imag for z in upper])


def unpacked_hermitian(h, C):
    """The Hermitian C x C matrix of a packed vector (inverse of packed_hermitian)."""
    M = np.zeros((C, C), dtype=complex)
    n_pairs = C * (C - 1) // 2
    p = 0
    for a in range(C):
        M[a, a] = h[a]
        for b in range(a + 1, C):
            M[a, b] = h[C + p] + 1j * h[C + n_pairs + p]
            M[b, a] = np.conj(M[a, b])
            p += 1
    return M


def packed_outer(v, weight):
    """weight * [|v_a|^2, Re(conj(v_a) v_b) (a < b), Im(conj(v_a) v_b) (a < b)] of one sample."""
    C = v.shape[0]
    pairs = [np.conj(v[a]) * v[b] for a in range(C) for b in range(a + 1, C)]
    return weight * np.array([abs(v[a]) ** 2 for a in range(C)] + [z.real for z in pairs]
                             + [z.imag for z in pairs])


def gemm(transpose_a, transpose_b, m, n, k, A, lda, B, ldb, accumulate, C, ldc):
    """BLAS's column-major C = op(A) op(B) (+ C) on flat buffers, entry by entry of C."""
    def entry(buffer, ld, transposed, row, col):
        return buffer[col + row * ld] if transposed else buffer[row + col * ld]

    for i in range(m):
        for j in range(n):
            total = sum(entry(A, lda, transpose_a, i, p) * entry(B, ldb, transpose_b, p, j)
                        for p in range(k))
            C[i + j * ldc] = total + (C[i + j * ldc] if accumulate else 0.0)
    return C


def load_transposed(V, f, first, B):
    """Real parts then imaginary parts of samples first:first+B at frequency f, one row per
    channel (V complex)."""
    block = V[f, first:first + B].T
    return np.concatenate([block.real, block.imag])


def packed_apply(H, X):
    """Every column of X (real parts over imaginary parts) times its sample's Hermitian matrix,
    packed in the same column of H; the same layout out."""
    C = X.shape[0] // 2
    Y = np.empty_like(X)
    for i in range(X.shape[1]):
        y = unpacked_hermitian(H[:, i], C) @ (X[:C, i] + 1j * X[C:, i])
        Y[:C, i], Y[C:, i] = y.real, y.imag
    return Y

def packed_layer(V, E, Cs, gammas, weights, eta, lmbda):
    """Twin of the packed kernel: norms as the quadratic forms v^H (C_j^H C_j) v, then every
    sample's own matrix E - sum_j gamma_j pi_j C_j times v; normalized.  Loops over samples
    and frequencies."""
    F, m, C = V.shape
    out = np.empty_like(V)
    grams = [[Cj[f].conj().T @ Cj[f] for f in range(F)] for Cj in Cs]
    for i in range(m):
        v = V[:, i]
        norms = [np.sqrt(sum(weights[f] * np.vdot(v[f], G[f] @ v[f]).real for f in range(F)))
                 for G in grams]
        pi = softmax(-lmbda * np.array(norms))
        new = np.empty_like(v)
        for f in range(F):
            own = E[f] - sum(g * p * Cj[f] for g, p, Cj in zip(gammas, pi, Cs))
            new[f] = v[f] + eta * own @ v[f]
        total = sum(weights[f] * np.vdot(new[f], new[f]).real for f in range(F))
        out[:, i] = new / np.sqrt(total)
    return out

def circulant_family_residuals(X_train, y_train, X_test, k, tie_rtol=1e-8):
    """Squared residuals (m_test, K) to the top-k principal subspace of every class's circulant family.

    The family of a class is the explicit matrix of every cyclic shift (along all
    spatial axes) of every training sample, flattened, shape (C*N, m_j*N).  Its
    top-k subspace keeps every left singular vector whose singular value is at
    least the k-th largest (a tie group at the boundary is kept whole, which is
    how a conjugate pair of frequencies shows up here), and never a numerically
    zero one.
    """
    y_index, K = encode(y_train)
    flat = X_test.reshape(X_test.shape[0], -1)
    residuals = np.zeros((X_test.shape[0], K))
    for j in range(K):
        family = np.concatenate([all_shifts(z) for z in X_train[y_index == j]], axis=1)
        U, s, _ = np.linalg.svd(family, full_matrices=False)
        rank = int(np.sum(s > s[0] * 1e-10))
        threshold = s[min(k, rank) - 1] * (1 - tie_rtol)
        U = U[:, (s >= threshold) & (np.arange(s.size) < rank)]
        residuals[:, j] = np.sum(flat ** 2, axis=1) - np.sum((flat @ U) ** 2, axis=1)
    return residuals


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
