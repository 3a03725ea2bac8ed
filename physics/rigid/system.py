"""`System`: a validated spec as a pytree of arrays the step reads.

Float parameters (masses, inertias, offsets, stiffness, friction, dt, gravity,
...) are traced leaves, so they can be vmapped (domain randomisation) and
differentiated. Counts, names and every gather index are static (tuples), so
the step's shapes are fixed when it is traced.

Joints are grouped by their DoF count (1, 2, 3) and each group is stepped as
one batch; the actuators live on their joints' rows (a zero strength means
unactuated). Collider pairs are grouped by shape kind, each kind one batch.
"""

from __future__ import annotations

import itertools
import math

import jax.numpy as jnp
import numpy as np
from flax import struct

from gambol.physics.rigid.math import euler_to_quat
from gambol.physics.rigid.spec import SpecError, SystemSpec, load_spec, validate

# Shape pairs the engine has contact geometry for, shape A first.
PAIR_KINDS = (("plane", "sphere"), ("plane", "capsule"), ("plane", "box"),
              ("sphere", "sphere"), ("sphere", "capsule"), ("capsule", "capsule"),
              ("box", "sphere"), ("box", "capsule"))


@struct.dataclass
class JointGroup:
    """All joints with `dof` degrees of freedom. Arrays: [J, ...]."""
    parent_offset: jnp.ndarray     # [J, 3]
    child_offset: jnp.ndarray      # [J, 3]
    frame: jnp.ndarray             # [J, 4] joint frame in the parent (and child) frame
    stiffness: jnp.ndarray         # [J]
    spring_damping: jnp.ndarray    # [J]
    angular_damping: jnp.ndarray   # [J]
    limit_strength: jnp.ndarray    # [J]
    limit_damping: jnp.ndarray     # [J]
    limits: jnp.ndarray            # [J, dof, 2] radians
    torque_strength: jnp.ndarray   # [J] strength * gear of a torque actuator, else 0
    angle_strength: jnp.ndarray    # [J] strength * gear of an angle actuator, else 0
    dof: int = struct.field(pytree_node=False)
    parent: tuple = struct.field(pytree_node=False)        # [J] body index
    child: tuple = struct.field(pytree_node=False)         # [J] body index
    action_slots: tuple = struct.field(pytree_node=False)  # [J][dof] action index
    names: tuple = struct.field(pytree_node=False)


@struct.dataclass
class ColliderPairs:
    """All candidate contact pairs of one shape kind (A, B)."""
    kind: tuple = struct.field(pytree_node=False)   # ("plane", "capsule"), ...
    a: tuple = struct.field(pytree_node=False)      # [P] collider index of A
    b: tuple = struct.field(pytree_node=False)      # [P] collider index of B


@struct.dataclass
class System:
    """A rigid-body scene. Body arrays are [B, ...], collider arrays [C, ...]."""
    mass: jnp.ndarray            # [B]
    inertia: jnp.ndarray         # [B, 3] principal moments, body frame
    free_position: jnp.ndarray   # [B, 3] 1 where the world axis moves, 0 where frozen
    free_rotation: jnp.ndarray   # [B, 3]
    inv_mass: jnp.ndarray        # [B] 0 for fully frozen bodies
    inv_inertia: jnp.ndarray     # [B, 3] 0 for fully frozen bodies
    collider_position: jnp.ndarray   # [C, 3] in its body's frame
    collider_rotation: jnp.ndarray   # [C, 4]
    collider_radius: jnp.ndarray     # [C]
    collider_half_length: jnp.ndarray  # [C] half the capsule's core segment
    collider_halfsize: jnp.ndarray   # [C, 3]
    gravity: jnp.ndarray
    dt: jnp.ndarray
    linear_damping: jnp.ndarray
    angular_damping: jnp.ndarray
    friction: jnp.ndarray
    elasticity: jnp.ndarray
    baumgarte_erp: jnp.ndarray
    plane_friction_scale: jnp.ndarray
    friction_threshold: jnp.ndarray
    joints: tuple                # of JointGroup, one per DoF count present
    pairs: tuple = struct.field(pytree_node=False)   # of ColliderPairs
    collider_body: tuple = struct.field(pytree_node=False)   # [C]
    collider_type: tuple = struct.field(pytree_node=False)   # [C]
    collider_end: tuple = struct.field(pytree_node=False)    # [C]
    body_names: tuple = struct.field(pytree_node=False)
    substeps: int = struct.field(pytree_node=False)
    action_size: int = struct.field(pytree_node=False)
    spec: SystemSpec = struct.field(pytree_node=False)

    @property
    def num_bodies(self) -> int:
        return len(self.body_names)

    def body_index(self, name: str) -> int:
        try:
            return self.body_names.index(name)
        except ValueError:
            raise KeyError(f"no body {name!r}; bodies are {list(self.body_names)}") from None

    @property
    def joint_names(self) -> tuple:
        return tuple(n for g in self.joints for n in g.names)


def _f(x, dtype):
    return jnp.asarray(np.asarray(x, np.float64), dtype)


def _joint_group(spec: SystemSpec, dof: int, slot0: dict, dtype) -> JointGroup:
    idx = {b.name: i for i, b in enumerate(spec.bodies)}
    joints = [j for j in spec.joints if j.dof == dof]
    acts = {a.joint: a for a in spec.actuators}

    def strength(j, kind):
        a = acts.get(j.name)
        return a.strength * a.gear if a is not None and a.type == kind else 0.0

    default_damping = 0.5 if dof == 1 else 2.0          # x sqrt(k), the Brax paper's engine
    return JointGroup(
        parent_offset=_f([j.parent_offset for j in joints], dtype),
        child_offset=_f([j.child_offset for j in joints], dtype),
        frame=euler_to_quat(_f([j.rotation for j in joints], dtype)),
        stiffness=_f([j.stiffness for j in joints], dtype),
        spring_damping=_f([default_damping * math.sqrt(j.stiffness) if j.spring_damping is None
                           else j.spring_damping for j in joints], dtype),
        angular_damping=_f([j.angular_damping for j in joints], dtype),
        limit_strength=_f([(j.stiffness if dof < 3 else 2000.0) if j.limit_strength is None
                           else j.limit_strength for j in joints], dtype),
        limit_damping=_f([j.limit_damping for j in joints], dtype),
        limits=_f(np.deg2rad([j.limits for j in joints]), dtype),
        torque_strength=_f([strength(j, "torque") for j in joints], dtype),
        angle_strength=_f([strength(j, "angle") for j in joints], dtype),
        dof=dof,
        parent=tuple(idx[j.parent] for j in joints),
        child=tuple(idx[j.child] for j in joints),
        action_slots=tuple(tuple(range(slot0[j.name], slot0[j.name] + dof)) for j in joints),
        names=tuple(j.name for j in joints))


def _pairs(spec: SystemSpec, colliders: list) -> tuple:
    """Candidate collider pairs grouped by kind, after the include/exclude rules."""
    joined = {frozenset((j.parent, j.child)) for j in spec.joints}
    include = {frozenset(p) for p in spec.collide_include}
    exclude = {frozenset(p) for p in spec.collide_exclude}
    frozen = {b.name for b in spec.bodies if b.frozen}
    by_kind: dict = {k: ([], []) for k in PAIR_KINDS}
    if not spec.collisions:
        return ()
    for (i, (bi, ci)), (j, (bj, cj)) in itertools.combinations(enumerate(colliders), 2):
        names = frozenset((bi.name, bj.name))
        if (bi.name == bj.name or names in joined or names in exclude
                or (include and names not in include) or (bi.name in frozen and bj.name in frozen)):
            continue
        kind = (ci.type, cj.type)
        if kind not in by_kind:
            kind, i, j = kind[::-1], j, i
        if kind not in by_kind:
            raise SpecError(
                f"system {spec.name!r}: bodies {bi.name!r} and {bj.name!r} would collide as "
                f"{ci.type}-{cj.type}, which has no contact model; supported pairs are "
                f"{['-'.join(k) for k in PAIR_KINDS]}; list the pair in collide_exclude or use "
                f"collide_include")
        by_kind[kind][0].append(i)
        by_kind[kind][1].append(j)
    return tuple(ColliderPairs(kind=k, a=tuple(a), b=tuple(b))
                 for k, (a, b) in by_kind.items() if a)


def build_system(spec: SystemSpec, dtype=None) -> System:
    """Validate `spec` and build its `System` (float leaves in `dtype`,
    default float32, or float64 under `jax_enable_x64`)."""
    validate(spec)
    dtype = dtype or jnp.zeros(()).dtype
    bodies = spec.bodies
    slot0, s = {}, 0
    for j in spec.joints:
        slot0[j.name] = s
        s += j.dof
    colliders = [(b, c) for b in bodies for c in b.colliders]
    frozen = np.array([b.frozen for b in bodies])
    idx = {b.name: i for i, b in enumerate(bodies)}
    none = np.zeros((0, 3))
    return System(
        mass=_f([b.mass for b in bodies], dtype),
        inertia=_f([b.inertia for b in bodies], dtype),
        free_position=_f([[1 - f for f in b.frozen_position] for b in bodies], dtype),
        free_rotation=_f([[1 - f for f in b.frozen_rotation] for b in bodies], dtype),
        inv_mass=_f(np.where(frozen, 0.0, 1.0 / np.array([b.mass for b in bodies])), dtype),
        inv_inertia=_f(np.where(frozen[:, None], 0.0,
                                1.0 / np.array([b.inertia for b in bodies], np.float64)), dtype),
        collider_position=_f([c.position for _, c in colliders] or none, dtype),
        collider_rotation=euler_to_quat(_f([c.rotation for _, c in colliders] or none, dtype)),
        collider_radius=_f([c.radius for _, c in colliders], dtype),
        collider_half_length=_f([max(c.length / 2 - c.radius, 0.0) for _, c in colliders], dtype),
        collider_halfsize=_f([c.halfsize for _, c in colliders] or none, dtype),
        gravity=_f(spec.gravity, dtype), dt=_f(spec.dt, dtype),
        linear_damping=_f(spec.linear_damping, dtype),
        angular_damping=_f(spec.angular_damping, dtype),
        friction=_f(spec.friction, dtype), elasticity=_f(spec.elasticity, dtype),
        baumgarte_erp=_f(spec.baumgarte_erp, dtype),
        plane_friction_scale=_f(spec.plane_friction_scale, dtype),
        friction_threshold=_f(spec.friction_threshold, dtype),
        joints=tuple(_joint_group(spec, d, slot0, dtype) for d in (1, 2, 3)
                     if any(j.dof == d for j in spec.joints)),
        pairs=_pairs(spec, colliders),
        collider_body=tuple(idx[b.name] for b, _ in colliders),
        collider_type=tuple(c.type for _, c in colliders),
        collider_end=tuple(c.end for _, c in colliders),
        body_names=tuple(b.name for b in bodies),
        substeps=spec.substeps,
        action_size=spec.action_size,
        spec=spec)


def load_system(source, dtype=None) -> System:
    """A `System` from a TOML file path, TOML text, or a `SystemSpec`."""
    spec = source if isinstance(source, SystemSpec) else load_spec(source)
    return build_system(spec, dtype)
