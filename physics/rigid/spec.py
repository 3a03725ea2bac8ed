"""The system spec: plain dataclasses, and the same schema as a TOML file.

A spec says what a scene is (bodies, joints, actuators, colliders, constants);
`gambol.physics.rigid.system.build` validates it and turns it into the traced
`System` pytree. The TOML form mirrors the dataclasses field for field:
top-level keys are `SystemSpec` fields, `[[bodies]]`, `[[bodies.colliders]]`,
`[[joints]]` and `[[actuators]]` are lists of the entry dataclasses. Angles in
a spec are degrees (rotations: intrinsic x-y'-z'' Euler angles).

Every constant the Brax paper's engine hid in code is a named field here with
its default and origin.
"""

from __future__ import annotations

import dataclasses
import math
import pathlib
import tomllib
from dataclasses import dataclass
from typing import Any

Vec3 = tuple[float, float, float]
COLLIDER_TYPES = ("sphere", "capsule", "box", "plane")
ACTUATOR_TYPES = ("torque", "angle")


class SpecError(ValueError):
    """A malformed spec; the message names the entry and the field."""


@dataclass(frozen=True)
class Collider:
    """A collision shape fixed to its body.

    type: sphere (radius), capsule (radius, total `length` along its local z;
    `end` is accepted for the Brax paper's configs, where 1 or -1 lets only the
    +z or -z end sphere touch a plane, but both ends always collide here: a
    rolled ant's shin otherwise passes through the floor knee first and stays),
    box (`halfsize`), plane (the body's local +z is its normal; planes must
    belong to fully frozen bodies). `position` and `rotation` (degrees) place
    it in the body frame."""
    type: str
    radius: float = 0.0
    length: float = 0.0
    halfsize: Vec3 = (0.0, 0.0, 0.0)
    end: int = 0
    position: Vec3 = (0.0, 0.0, 0.0)
    rotation: Vec3 = (0.0, 0.0, 0.0)


@dataclass(frozen=True)
class Body:
    """A rigid body. `inertia`: principal moments (Ixx, Iyy, Izz) in the body
    frame. `frozen_position` / `frozen_rotation`: 1 where that world axis is
    locked (a plane, or halfcheetah's planar motion). `position` / `rotation`
    (degrees): the rest pose of a body that is no joint's child (`default_qp`
    places children from their joints)."""
    name: str
    mass: float = 1.0
    inertia: Vec3 = (1.0, 1.0, 1.0)
    colliders: tuple[Collider, ...] = ()
    frozen_position: Vec3 = (0, 0, 0)
    frozen_rotation: Vec3 = (0, 0, 0)
    position: Vec3 = (0.0, 0.0, 0.0)
    rotation: Vec3 = (0.0, 0.0, 0.0)

    @property
    def frozen(self) -> bool:
        return all(self.frozen_position) and all(self.frozen_rotation)


@dataclass(frozen=True)
class Joint:
    """A spring joint from `parent` to `child` with 1, 2 or 3 degrees of
    freedom, one per entry of `limits` ((min, max) degrees each): 1 a hinge
    about the joint frame's x axis, 2 a universal joint (x, then y), 3 a ball
    joint (x, y', z''). `rotation` (degrees) orients the joint frame in the
    parent's frame (and in the child's, at zero angle). The anchors sit at
    `parent_offset` / `child_offset` in each body's frame.

    stiffness: k of the anchor spring and of the axis alignment.
    spring_damping: anchor velocity damping; default 0.5*sqrt(k) for hinges,
        2*sqrt(k) otherwise (the Brax paper's engine).
    angular_damping: c_a on the relative angular velocity.
    limit_strength: one-sided spring at the angle limits; default k for 1 and
        2 DoF, 2000 for 3 DoF (the Brax paper's engine).
    limit_damping: c of a damper -c * speed on each DoF while it is past a
        limit (the limit torque never pulls it further out); default 0, the
        Brax paper's engine.
    """
    name: str
    parent: str
    child: str
    limits: tuple[tuple[float, float], ...]
    parent_offset: Vec3 = (0.0, 0.0, 0.0)
    child_offset: Vec3 = (0.0, 0.0, 0.0)
    rotation: Vec3 = (0.0, 0.0, 0.0)
    stiffness: float = 5000.0
    spring_damping: float | None = None
    angular_damping: float = 0.0
    limit_strength: float | None = None
    limit_damping: float = 0.0

    @property
    def dof(self) -> int:
        return len(self.limits)


@dataclass(frozen=True)
class Actuator:
    """Drives every DoF of `joint`. torque: tau = action * strength * gear
    about each joint axis (equal and opposite on parent and child; zero when it
    would push a DoF further past its limit). angle: a PD servo, action in
    [-1, 1] maps linearly onto the joint's [min, max] and
    tau = strength * gear * (target - angle); its damping is the joint's
    angular_damping."""
    name: str
    joint: str
    type: str = "torque"
    strength: float = 1.0
    gear: float = 1.0


@dataclass(frozen=True)
class SystemSpec:
    """A whole scene. Action slots: every joint contributes its DoF count in
    joint order (`action_size = sum of DoFs`); an actuator reads the slots of
    its joint; unactuated slots are ignored.

    gravity: world acceleration. dt: time per `step`, split into `substeps`.
    linear_damping / angular_damping: decay rates c, v <- exp(-c h) v per
        substep of length h (the Brax paper's envs use angular decay 0.05).
    friction, elasticity: Coulomb mu and restitution e for every contact.
    baumgarte_erp: fraction beta of penetration removed per substep.
    plane_friction_scale: friction multiplier against planes (2 in the Brax
        paper's engine, "helps grip"; 1 is plain Coulomb).
    friction_threshold: no friction impulse at or below this tangential speed
        (the Brax paper used 0.01, which lets a slow slide creep on forever).
    collisions: False turns every contact off (free-floating diagnostics).
    collide_include: if non-empty, only these body pairs collide.
    collide_exclude: body pairs that never collide (joint parent/child pairs
        never collide either).
    """
    name: str
    bodies: tuple[Body, ...]
    joints: tuple[Joint, ...] = ()
    actuators: tuple[Actuator, ...] = ()
    dt: float = 0.01
    substeps: int = 1
    gravity: Vec3 = (0.0, 0.0, -9.81)
    linear_damping: float = 0.0
    angular_damping: float = 0.0
    friction: float = 0.6
    elasticity: float = 0.0
    baumgarte_erp: float = 0.1
    plane_friction_scale: float = 2.0
    friction_threshold: float = 0.0
    collisions: bool = True
    collide_include: tuple[tuple[str, str], ...] = ()
    collide_exclude: tuple[tuple[str, str], ...] = ()

    @property
    def action_size(self) -> int:
        return sum(j.dof for j in self.joints)


# -- validation -------------------------------------------------------------

def _fail(where: str, name: str, expected: str, got: Any):
    raise SpecError(f"{where}: field {name!r} expected {expected}, got {got!r}")


def _vec(where, name, v, n=3):
    if (not isinstance(v, (tuple, list)) or len(v) != n
            or not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v)):
        _fail(where, name, f"{n} numbers", v)
    if not all(math.isfinite(x) for x in v):
        _fail(where, name, "finite numbers", v)


def _num(where, name, v, lo=None, strict=False):
    if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v):
        _fail(where, name, "a finite number", v)
    if lo is not None and (v <= lo if strict else v < lo):
        _fail(where, name, f"a number {'>' if strict else '>='} {lo}", v)


def _check_collider(where: str, c: Collider):
    if c.type not in COLLIDER_TYPES:
        _fail(where, "type", f"one of {COLLIDER_TYPES}", c.type)
    _vec(where, "position", c.position)
    _vec(where, "rotation", c.rotation)
    if c.type in ("sphere", "capsule"):
        _num(where, "radius", c.radius, 0.0, strict=True)
    if c.type == "capsule":
        _num(where, "length", c.length, 0.0, strict=True)
        if c.length < 2 * c.radius:
            _fail(where, "length", f"a total length >= 2 * radius = {2 * c.radius}", c.length)
        if c.end not in (-1, 0, 1):
            _fail(where, "end", "-1, 0 or 1", c.end)
    if c.type == "box":
        _vec(where, "halfsize", c.halfsize)
        if min(c.halfsize) <= 0:
            _fail(where, "halfsize", "three positive numbers", c.halfsize)


def validate(spec: SystemSpec) -> None:
    """Raise `SpecError` naming the entry and field of the first problem."""
    if not spec.bodies:
        _fail(f"system {spec.name!r}", "bodies", "at least one body", spec.bodies)
    top = f"system {spec.name!r}"
    _num(top, "dt", spec.dt, 0.0, strict=True)
    if not isinstance(spec.substeps, int) or spec.substeps < 1:
        _fail(top, "substeps", "an int >= 1", spec.substeps)
    _vec(top, "gravity", spec.gravity)
    for f in ("linear_damping", "angular_damping", "friction", "elasticity", "baumgarte_erp",
              "plane_friction_scale", "friction_threshold"):
        _num(top, f, getattr(spec, f), 0.0)
    names: set[str] = set()
    for i, b in enumerate(spec.bodies):
        where = f"bodies[{i}] ({b.name!r})"
        if not isinstance(b.name, str) or not b.name:
            _fail(f"bodies[{i}]", "name", "a non-empty str", b.name)
        if b.name in names:
            _fail(where, "name", "a unique body name", b.name)
        names.add(b.name)
        _num(where, "mass", b.mass, 0.0, strict=True)
        _vec(where, "inertia", b.inertia)
        if min(b.inertia) <= 0:
            _fail(where, "inertia", "three positive moments", b.inertia)
        _vec(where, "position", b.position)
        _vec(where, "rotation", b.rotation)
        for f in ("frozen_position", "frozen_rotation"):
            v = getattr(b, f)
            _vec(where, f, v)
            if any(x not in (0, 1) for x in v):
                _fail(where, f, "three flags 0 or 1", v)
        for k, c in enumerate(b.colliders):
            _check_collider(f"{where}.colliders[{k}]", c)
            if c.type == "plane" and not b.frozen:
                _fail(f"{where}.colliders[{k}]", "type",
                      "planes only on fully frozen bodies (set frozen_position and frozen_rotation "
                      "to [1, 1, 1])", c.type)
    joint_names: set[str] = set()
    children: set[str] = set()
    for i, j in enumerate(spec.joints):
        where = f"joints[{i}] ({j.name!r})"
        if j.name in joint_names:
            _fail(where, "name", "a unique joint name", j.name)
        joint_names.add(j.name)
        for f in ("parent", "child"):
            if getattr(j, f) not in names:
                _fail(where, f, f"a body name, one of {sorted(names)}", getattr(j, f))
        if j.parent == j.child:
            _fail(where, "child", "a body other than the parent", j.child)
        if j.child in children:
            _fail(where, "child", "a body that is no other joint's child (joints form a tree)",
                  j.child)
        children.add(j.child)
        if not isinstance(j.limits, (tuple, list)) or not 1 <= len(j.limits) <= 3:
            _fail(where, "limits", "1 to 3 (min, max) pairs in degrees", j.limits)
        for k, lim in enumerate(j.limits):
            _vec(where, f"limits[{k}]", lim, 2)
            if lim[0] > lim[1]:
                _fail(where, f"limits[{k}]", "min <= max", lim)
        for f in ("parent_offset", "child_offset", "rotation"):
            _vec(where, f, getattr(j, f))
        _num(where, "stiffness", j.stiffness, 0.0)
        _num(where, "angular_damping", j.angular_damping, 0.0)
        _num(where, "limit_damping", j.limit_damping, 0.0)
        for f in ("spring_damping", "limit_strength"):
            if getattr(j, f) is not None:
                _num(where, f, getattr(j, f), 0.0)
    actuated: set[str] = set()
    act_names: set[str] = set()
    for i, a in enumerate(spec.actuators):
        where = f"actuators[{i}] ({a.name!r})"
        if a.name in act_names:
            _fail(where, "name", "a unique actuator name", a.name)
        act_names.add(a.name)
        if a.joint not in joint_names:
            _fail(where, "joint", f"a joint name, one of {sorted(joint_names)}", a.joint)
        if a.joint in actuated:
            _fail(where, "joint", "a joint no other actuator drives", a.joint)
        actuated.add(a.joint)
        if a.type not in ACTUATOR_TYPES:
            _fail(where, "type", f"one of {ACTUATOR_TYPES}", a.type)
        _num(where, "strength", a.strength, 0.0)
        _num(where, "gear", a.gear)
    if not isinstance(spec.collisions, bool):
        _fail(top, "collisions", "true or false", spec.collisions)
    for f in ("collide_include", "collide_exclude"):
        for k, pair in enumerate(getattr(spec, f)):
            if not isinstance(pair, (tuple, list)) or len(pair) != 2:
                _fail(top, f"{f}[{k}]", "a pair of body names", pair)
            for n in pair:
                if n not in names:
                    _fail(top, f"{f}[{k}]", f"body names, one of {sorted(names)}", pair)


# -- the text form ----------------------------------------------------------

def _tuplify(v):
    return tuple(_tuplify(x) for x in v) if isinstance(v, list) else v


def _from_dict(cls, d: Any, where: str):
    if not isinstance(d, dict):
        raise SpecError(f"{where}: expected a table of {cls.__name__} fields, got {d!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(d) - set(fields))
    if unknown:
        raise SpecError(f"{where}: unknown field(s) {unknown}; {cls.__name__} has {sorted(fields)}")
    missing = [n for n, f in fields.items() if n not in d and f.default is dataclasses.MISSING
               and f.default_factory is dataclasses.MISSING]
    if missing:
        name = d.get("name")
        label = f"{where} ({name!r})" if name else where
        raise SpecError(f"{label}: missing required field(s) {missing}")
    kwargs = {}
    for k, v in d.items():
        if cls is Body and k == "colliders":
            v = tuple(_from_dict(Collider, c, f"{where}.colliders[{i}]") for i, c in enumerate(v))
        elif cls is SystemSpec and k in ("bodies", "joints", "actuators"):
            entry = {"bodies": Body, "joints": Joint, "actuators": Actuator}[k]
            if not isinstance(v, list):
                raise SpecError(f"{where}: field {k!r} expected a list of tables, got {v!r}")
            v = tuple(_from_dict(entry, e, f"{k}[{i}]") for i, e in enumerate(v))
        else:
            v = _tuplify(v)
        kwargs[k] = v
    return cls(**kwargs)


def spec_from_dict(d: dict) -> SystemSpec:
    """The `SystemSpec` of a parsed TOML document (validated)."""
    spec = _from_dict(SystemSpec, d, "system")
    validate(spec)
    return spec


def load_spec(path_or_text: str | pathlib.Path) -> SystemSpec:
    """Parse a TOML spec from a file path or from the text itself."""
    text = str(path_or_text)
    if isinstance(path_or_text, pathlib.Path) or (
            "\n" not in text and text.endswith(".toml")):
        path = pathlib.Path(text)
        if not path.exists():
            raise FileNotFoundError(f"load_system: no spec file at {path}")
        text = path.read_text()
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise SpecError(f"load_system: not valid TOML: {e}") from None
    return spec_from_dict(doc)
