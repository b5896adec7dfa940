"""Straightforward implementations of SPEC.md, timed beside the library.

These are what a careful user would write from the paper without any factorization
tricks: NumPy, vectorized over samples (so the comparison is not against a
per-sample Python loop), but with

* an explicit ``np.linalg.inv`` for every operator (``E`` and every ``C_j``),
* the objective recomputed with ``np.linalg.slogdet`` at every layer,
* Python loops over classes and, for the invariant nets, over every frequency of
  the full complex spectrum (no conjugate-symmetry halving),
* dense (non-low-rank) operators for every class, stored for every layer.

Nothing here imports :mod:`redunet`.  All functions take encoded labels
``y_index`` in ``0..K-1`` and return the final features, the layers (the model a
user would keep) and ``delta_R`` per layer (``n_layers + 1`` entries: the input of
every layer, then the output of the last one).
"""

import numpy as np

__all__ = ["vector_redunet", "full_spectrum_redunet", "dense_circulant_redunet"]


def _softmax(scores, axis):
    scores = scores - scores.max(axis=axis, keepdims=True)
    e = np.exp(scores)
    return e / e.sum(axis=axis, keepdims=True)



def _vector_step(Z, E, Cs, gammas, eta, lmbda):
    """The SPEC section 2 update of every row of ``Z``, vectorized over samples."""
    compressed = [Z @ C.T for C in Cs]
    scores = np.stack([-lmbda * np.linalg.norm(CZ, axis=1) for CZ in compressed], axis=1)
    pi = _softmax(scores, axis=1)
    step = Z @ E.T
    for j, CZ in enumerate(compressed):
        step -= gammas[j] * pi[:, j:j + 1] * CZ
    Z = Z + eta * step
    return Z / np.linalg.norm(Z, axis=1, keepdims=True)

def _rows_of(y_index, K):
    return [np.flatnonzero(y_index == j) for j in range(K)]


# --------------------------------------------------------------------------- vector (SPEC 2)

def _vector_objective(Z, rows, eps):
    m, d = Z.shape
    I = np.eye(d)
    rate = 0.5 * np.linalg.slogdet(I + d / (m * eps) * Z.T @ Z)[1]
    compression = 0.0
    for r in rows:
        Zj = Z[r]
        m_j = Zj.shape[0]
        compression += m_j / m * 0.5 * np.linalg.slogdet(I + d / (m_j * eps) * Zj.T @ Zj)[1]
    return rate - compression


def vector_redunet(X, y_index, K, n_layers, eta=0.5, eps=0.1, lmbda=500.0):
    """Vector ReduNet: per-layer inverses, slogdet objective, loop over classes."""
    m, d = X.shape
    I = np.eye(d)
    rows = _rows_of(y_index, K)
    Z = X / np.linalg.norm(X, axis=1, keepdims=True)
    layers, history = [], []
    for _ in range(n_layers):
        history.append(_vector_objective(Z, rows, eps))
        alpha = d / (m * eps)
        E = alpha * np.linalg.inv(I + alpha * Z.T @ Z)
        Cs, gammas = [], []
        for r in rows:
            Zj = Z[r]
            alpha_j = d / (Zj.shape[0] * eps)
            Cs.append(alpha_j * np.linalg.inv(I + alpha_j * Zj.T @ Zj))
            gammas.append(Zj.shape[0] / m)
        Z = _vector_step(Z, E, Cs, gammas, eta, lmbda)
        layers.append((E, Cs, np.array(gammas)))
    history.append(_vector_objective(Z, rows, eps))
    return Z, layers, np.array(history)


# --------------------------------------------------------------------------- full spectrum (SPEC 3)

def _spectral_objective(V, rows, eps):
    m, C, F = V.shape
    I = np.eye(C)
    rate = 0.0
    for f in range(F):
        Vf = V[:, :, f]
        rate += np.linalg.slogdet(I + C / (m * eps) * Vf.T @ Vf.conj())[1]
    compression = 0.0
    for r in rows:
        m_j = r.shape[0]
        for f in range(F):
            Vjf = V[r, :, f]
            compression += m_j / m * np.linalg.slogdet(
                I + C / (m_j * eps) * Vjf.T @ Vjf.conj())[1]
    return (rate - compression) / (2 * F)


def full_spectrum_redunet(X, y_index, K, n_layers, eta=0.5, eps=0.1, lmbda=500.0):
    """Shift-invariant ReduNet on the full complex spectrum, one frequency at a time.

    ``X`` is ``(m, C, T)`` or ``(m, C, H, W)``; ``np.fft.fftn`` over the spatial axes,
    a ``C x C`` explicit inverse per frequency for ``E`` and for every class, the
    membership norm accumulated over all frequencies, then the update frequency by
    frequency.  Returns real features of the shape of ``X``.
    """
    m, C = X.shape[:2]
    axes = tuple(range(2, X.ndim))
    rows = _rows_of(y_index, K)
    Z = X / np.linalg.norm(X.reshape(m, -1), axis=1).reshape((-1,) + (1,) * (X.ndim - 1))
    V = np.fft.fftn(Z, axes=axes, norm="ortho").reshape(m, C, -1)
    F = V.shape[2]
    I = np.eye(C)
    layers, history = [], []
    for _ in range(n_layers):
        history.append(_spectral_objective(V, rows, eps))
        alpha = C / (m * eps)
        E = []
        for f in range(F):
            Vf = V[:, :, f]
            E.append(alpha * np.linalg.inv(I + alpha * Vf.T @ Vf.conj()))
        Cs, gammas = [], []
        for r in rows:
            alpha_j = C / (r.shape[0] * eps)
            Cj = []
            for f in range(F):
                Vjf = V[r, :, f]
                Cj.append(alpha_j * np.linalg.inv(I + alpha_j * Vjf.T @ Vjf.conj()))
            Cs.append(Cj)
            gammas.append(r.shape[0] / m)
        # Membership: ||C_j v|| over all channels and frequencies.
        compressed = [[None] * F for _ in range(K)]
        sq_norms = np.zeros((K, m))
        for j in range(K):
            for f in range(F):
                CV = V[:, :, f] @ Cs[j][f].T
                compressed[j][f] = CV
                sq_norms[j] += np.sum(np.abs(CV) ** 2, axis=1)
        pi = _softmax(-lmbda * np.sqrt(sq_norms), axis=0)
        new = np.empty_like(V)
        for f in range(F):
            Vf = V[:, :, f]
            step = Vf @ E[f].T
            for j in range(K):
                step -= gammas[j] * pi[j][:, None] * compressed[j][f]
            new[:, :, f] = Vf + eta * step
        new /= np.linalg.norm(new.reshape(m, -1), axis=1)[:, None, None]
        V = new
        layers.append((E, Cs, np.array(gammas)))
    history.append(_spectral_objective(V, rows, eps))
    out = np.fft.ifftn(V.reshape(X.shape), axes=axes, norm="ortho").real
    out /= np.linalg.norm(out.reshape(m, -1), axis=1).reshape((-1,) + (1,) * (X.ndim - 1))
    return out, layers, np.array(history)


# --------------------------------------------------------------------------- dense circulant

def dense_circulant_redunet(X, y_index, K, n_layers, eta=0.5, eps=0.1, lmbda=500.0):
    """Shift-invariant 1D ReduNet as a vector ReduNet on ``C*T``-vectors (SPEC section 3).

    ``E = alpha * inv(I + (alpha / T) sum_i circ(z_i) circ(z_i)^T)``, ``alpha = C/(m eps)``,
    with ``circ(z_i)`` the ``(C*T) x T`` matrix of all cyclic shifts of sample ``i``; the
    same for every class.  ``(C*T) x (C*T)`` explicit inverses and slogdets.
    """
    m, C, T = X.shape
    D = C * T
    I = np.eye(D)
    rows = _rows_of(y_index, K)
    Z = X.reshape(m, D) / np.linalg.norm(X.reshape(m, D), axis=1, keepdims=True)
    # circ(z)[:, s] = roll(z, s, axis=-1).ravel(): entry (c, t) is z[c, (t - s) mod T].
    shift_index = (np.arange(T)[None, :] - np.arange(T)[:, None]) % T       # [s, t]

    def scatter(Zs):
        circ = Zs.reshape(-1, C, T)[:, :, shift_index]                   # (n, C, s, t)
        circ = circ.transpose(1, 3, 0, 2).reshape(D, -1)                  # (C*T, n*T)
        return circ @ circ.T

    layers, history = [], []
    for index in range(n_layers + 1):
        alpha = C / (m * eps)
        A = I + alpha / T * scatter(Z)
        rate = np.linalg.slogdet(A)[1] / (2 * T)
        operators = []
        compression = 0.0
        for r in rows:
            m_j = r.shape[0]
            alpha_j = C / (m_j * eps)
            Aj = I + alpha_j / T * scatter(Z[r])
            compression += m_j / m * np.linalg.slogdet(Aj)[1] / (2 * T)
            operators.append((alpha_j, Aj))
        history.append(rate - compression)
        if index == n_layers:
            break
        E = alpha * np.linalg.inv(A)
        Cs = [alpha_j * np.linalg.inv(Aj) for alpha_j, Aj in operators]
        gammas = np.array([r.shape[0] / m for r in rows])
        Z = _vector_step(Z, E, Cs, gammas, eta, lmbda)
        layers.append((E, Cs, gammas))
    return Z.reshape(X.shape), layers, np.array(history)


def model_nbytes(layers):
    """Bytes of the arrays of a list of ``(E, Cs, gammas)`` layers (nested lists allowed)."""
    def size(obj):
        if isinstance(obj, np.ndarray):
            return obj.nbytes
        if isinstance(obj, (list, tuple)):
            return sum(size(o) for o in obj)
        return 0
    return size(layers)
