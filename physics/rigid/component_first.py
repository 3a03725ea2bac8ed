"""Vector algebra in the engine's internal, component-first layout.

Inside a step the engine keeps every quantity as a structure of arrays with
the components leading and any batch axes trailing: a vector is `[3, *T]`, a
quaternion (w, x, y, z) `[4, *T]`, a rotation matrix `[3, 3, *T]` (row, column),
a scalar `[*T]`; `*T` is e.g. `[bodies, envs]`. Every function here is
elementwise over `*T` (plain numpy broadcasting between arguments), so one
formula serves one body, a batch of bodies and a batch of scenes. With the
batch axis minor, XLA:CPU's loops run over it contiguously and vectorise;
the public `[..., 3]` layout (`math.py`) would make the 3 components the inner
loop.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np


def as_literal(x):
    """x's one value when x is a concrete (numpy) array of one value repeated,
    else x: a literal in the program, where an array constant would be a loop
    input that XLA:CPU rebuilds as a broadcast kernel in every step. Only for
    values used elementwise."""
    if isinstance(x, np.ndarray) and x.size and np.all(x == x.reshape(-1)[0]):
        return x.reshape(-1)[0]
    return x


def component(v, i):
    """Component v[i], `as_literal` when it has more than one element."""
    x = v[i]
    return as_literal(x) if np.size(x) > 1 else x


def dot(a, b):
    """a . b over the component axis: [3, *T] x [3, *T] -> [*T]."""
    return sum(component(a, i) * component(b, i) for i in range(3))


def cross(a, b):
    """a × b: [3, *T]."""
    a0, a1, a2 = [component(a, i) for i in range(3)]
    b0, b1, b2 = [component(b, i) for i in range(3)]
    return jnp.stack([a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0])


def quat_mul(a, b):
    """Hamilton product a ⊗ b: [4, *T]."""
    aw, ax, ay, az = [component(a, i) for i in range(4)]
    bw, bx, by, bz = [component(b, i) for i in range(4)]
    return jnp.stack([aw * bw - ax * bx - ay * by - az * bz,
                      aw * bx + ax * bw + ay * bz - az * by,
                      aw * by - ax * bz + ay * bw + az * bx,
                      aw * bz + ax * by - ay * bx + az * bw])


def quat_conj(q):
    return jnp.concatenate([q[:1], -q[1:]])


def rotation_entries(w, x, y, z):
    """The rotation matrix R(q) of a unit quaternion q = (w, x, y, z) as nested
    lists of its entries, R[row][column]: the one place this formula is written
    (elementwise, so the components may be arrays of any shape or literals)."""
    return [[1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
            [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
            [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)]]


def rotate(v, q):
    """q v q* = R(q) v, each component as the rotation matrix's row times v (one
    stacked result rather than two: each stack is a kernel of its own for
    XLA:CPU when used twice); v [3, *T], q [4, *T] unit."""
    m = rotation_entries(*[component(q, i) for i in range(4)])
    v0, v1, v2 = [component(v, i) for i in range(3)]
    return jnp.stack([m[i][0] * v0 + m[i][1] * v1 + m[i][2] * v2 for i in range(3)])


def inv_rotate(v, q):
    """q* v q: a world vector in the frame q."""
    return rotate(v, quat_conj(q))


def quat_column(q, i: int):
    """The rotated i-th axis of q [4, *T]: column i of its matrix, [3, *T]."""
    m = rotation_entries(*q)
    return jnp.stack([m[0][i], m[1][i], m[2][i]])


def quat_to_matrix(q):
    """[4, *T] -> [3, 3, *T] with the rotated x, y, z axes as columns."""
    return jnp.stack([quat_column(q, i) for i in range(3)], axis=1)


def matvec(m, v):
    """m @ v: [3, 3, *T] x [3, *T] -> [3, *T]."""
    return m[:, 0] * v[0] + m[:, 1] * v[1] + m[:, 2] * v[2]


def tmatvec(m, v):
    """mᵀ @ v: [3, 3, *T] x [3, *T] -> [3, *T]."""
    return m[0] * v[0] + m[1] * v[1] + m[2] * v[2]


def normalize(q, eps: float = 1e-12):
    # the sum of squares written out: a reduce would be a kernel of its own
    return q * jax.lax.rsqrt(sum(q[i] * q[i] for i in range(q.shape[0])) + eps)


def quat_to_euler(q):
    """x-y'-z'' Tait-Bryan angles [3, *T] of q [4, *T] (see math.quat_to_euler)."""
    m = rotation_entries(*q)
    return euler_from_entries(m)


def euler_from_entries(m):
    """x-y'-z'' angles of R = Rx Ry Rz from its entries: R[0][2] = sin b,
    R[1][2] = -sin a cos b, R[2][2] = cos a cos b, R[0][1] = -cos b sin c,
    R[0][0] = cos b cos c; b in [-pi/2, pi/2]. Returns [3, *T]."""
    return jnp.stack([jnp.arctan2(-m[1][2], m[2][2]), jnp.arcsin(jnp.clip(m[0][2], -1.0, 1.0)),
                      jnp.arctan2(-m[0][1], m[0][0])])


def integrate_rotation(q, omega, h):
    """One step of dq/dt = ½ (0, ω) ⊗ q, ω [3, *T] in the world frame, renormalised."""
    omega_q = jnp.concatenate([jnp.zeros_like(omega[:1]), omega])
    return normalize(q + 0.5 * h * quat_mul(omega_q, q))


def gather_rows(x, index):
    """x[:, index] for x [K, N, *T] and a static index [I]: [K, I, *T], as one
    gather that writes the rows in place (jnp's x[:, index] gathers rows first
    and transposes after, a kernel more on XLA:CPU)."""
    index = np.asarray(index, np.int32).reshape(-1, 1)
    dims = jax.lax.GatherDimensionNumbers(offset_dims=(0,) + tuple(range(2, x.ndim)), collapsed_slice_dims=(1,),
                                          start_index_map=(1,))
    return jax.lax.gather(x, jnp.asarray(index), dims, (x.shape[0], 1) + x.shape[2:],
                          mode=jax.lax.GatherScatterMode.PROMISE_IN_BOUNDS)


def take_rows(arrays, *indices):
    """Rows of every array [k_a, N, *T] (same N and *T) at each static index
    list ([I] ints), with one gather: XLA:CPU compiles every gather as a kernel
    of its own. Returns, per index list, a tuple of [k_a, I, *T] arrays."""
    sizes = np.cumsum([0] + [a.shape[0] for a in arrays])
    flat = np.concatenate([np.asarray(i, np.int32).reshape(-1) for i in indices])
    rows = gather_rows(jnp.concatenate(arrays), flat)
    starts = np.cumsum([0] + [len(i) for i in indices])
    return [tuple(rows[sizes[a]:sizes[a + 1], starts[k]:starts[k + 1]] for a in range(len(arrays)))
            for k in range(len(indices))]


def sum_rows(values, groups):
    """out[..., i, :] = sum of values[..., k, :] over k in groups[i] (static
    lists of row numbers; an empty group gives zeros): values [*C, K, B] ->
    [*C, len(groups), B].

    One gather of M rows per group (M: the largest group; the shorter ones
    read a zero row appended to `values`), then M - 1 adds: XLA:CPU compiles
    every gather as a kernel of its own and fuses the adds after it."""
    k, size = values.shape[-2], len(groups)
    m = max((len(g) for g in groups), default=0)
    if m == 0:
        return jnp.zeros(values.shape[:-2] + (size,) + values.shape[-1:], values.dtype)
    padded = jnp.concatenate([values, jnp.zeros(values.shape[:-2] + (1,) + values.shape[-1:], values.dtype)],
                             axis=-2)
    table = np.array([[g[r] if r < len(g) else k for g in groups] for r in range(m)], np.int32)
    rows = gather_rows(padded.reshape((-1,) + padded.shape[-2:]), table.reshape(-1))
    rows = rows.reshape(values.shape[:-2] + rows.shape[-2:])
    return sum(rows[..., r * size:(r + 1) * size, :] for r in range(m))


def scatter_rows(values, index, size: int):
    """out[..., i, :] = sum of values[..., k, :] with index[k] == i, for a
    static `index` ([K] ints): values [*C, K, B] -> [*C, size, B]."""
    index = np.asarray(index).tolist()
    return sum_rows(values, [[k for k, i in enumerate(index) if i == row] for row in range(size)])
