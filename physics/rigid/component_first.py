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


def quat_to_euler(q, count: int = 3):
    """The first `count` x-y'-z'' Tait-Bryan angles [count, *T] of q [4, *T]
    (see math.quat_to_euler)."""
    m = rotation_entries(*q)
    return euler_from_entries(m, count)


def euler_from_entries(m, count: int = 3):
    """x-y'-z'' angles of R = Rx Ry Rz from its entries: R[0][2] = sin b,
    R[1][2] = -sin a cos b, R[2][2] = cos a cos b, R[0][1] = -cos b sin c,
    R[0][0] = cos b cos c; b in [-pi/2, pi/2]. Returns the first `count`,
    [count, *T] (a hinge needs only a: the others are not computed)."""
    def angle(i):
        if i == 0:
            return atan2(-m[1][2], m[2][2])
        if i == 1:
            sin_b = jnp.clip(m[0][2], -1.0, 1.0)
            return atan2(sin_b, jnp.sqrt(1.0 - sin_b * sin_b))
        return atan2(-m[0][1], m[0][0])

    return jnp.stack([angle(i) for i in range(count)])


# atan(t) ~ t + t z (c0 + c1 z + c2 z^2 + c3 z^3), z = t^2, |t| <= tan(pi/8):
# the minimax coefficients of Cephes' atanf (max error ~1e-7, float32's resolution)
_ATAN_COEFFICIENTS = (-3.33329491539e-1, 1.99777106478e-1, -1.38776856032e-1, 8.05374449538e-2)
_TAN_PI_8 = 0.41421356237309503


def atan2(y, x):
    """The angle of (x, y) in (-pi, pi], elementwise, as jnp.arctan2.

    In float32 it is a polynomial that XLA:CPU fuses and vectorises (its
    arctan2 is a scalar libm call per element, 30x a multiply and an eighth
    of a humanoid step); other dtypes use jnp.arctan2. Both have the same
    derivative away from the origin, where neither has one."""
    if jnp.result_type(y, x) != jnp.float32:
        return jnp.arctan2(y, x)
    ax, ay = jnp.abs(x), jnp.abs(y)
    big, small = jnp.maximum(ax, ay), jnp.minimum(ax, ay)
    t = small / jnp.where(big > 0, big, 1.0)                      # in [0, 1]
    # atan t = pi/4 + atan((t - 1) / (t + 1)) brings t above tan(pi/8) into range
    reduce = t > _TAN_PI_8
    t = jnp.where(reduce, (t - 1.0) / (t + 1.0), t)
    z = t * t
    c0, c1, c2, c3 = _ATAN_COEFFICIENTS
    a = t + t * z * (c0 + z * (c1 + z * (c2 + z * c3))) + jnp.where(reduce, jnp.pi / 4, 0.0)
    a = jnp.where(ay > ax, jnp.pi / 2 - a, a)                       # the octant
    a = jnp.where(x < 0, jnp.pi - a, a)
    return jnp.where(y < 0, -a, a)


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

    Static slices, adds and one concatenate, which XLA:CPU fuses with the
    computation of `values` into one vectorised loop. (A gather of the rows,
    fused with that computation, made XLA:CPU run all of it as a scalar loop
    with a branch per element: the joint forces of a humanoid took twice as
    long.)"""
    zero = jnp.zeros(values.shape[:-2] + (1,) + values.shape[-1:], values.dtype)
    rows = [sum(values[..., k:k + 1, :] for k in g) if g else zero for g in groups]
    return jnp.concatenate(rows, axis=-2) if rows else zero[..., :0, :]


def scatter_rows(values, index, size: int):
    """out[..., i, :] = sum of values[..., k, :] with index[k] == i, for a
    static `index` ([K] ints): values [*C, K, B] -> [*C, size, B]."""
    index = np.asarray(index).tolist()
    return sum_rows(values, [[k for k, i in enumerate(index) if i == row] for row in range(size)])
