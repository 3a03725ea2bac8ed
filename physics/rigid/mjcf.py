"""MJCF import: a MuJoCo XML model as a `SystemSpec`, the subset the spring
engine can represent.

    spec = load_mjcf("hopper.xml", strict=False)   # or the XML text itself
    sys = build_system(spec)

What maps, and how (lengths in metres, masses in kg, spec angles in degrees):

- Bodies. Every body with joints becomes one engine body; a body without
  joints is welded into its parent (its geoms and mass join the parent's), and
  a jointless child of `<worldbody>` joins the static `world` body (the frozen
  body that holds the floor and every other world geom). An engine body's
  frame sits at its centre of mass with the world's axes at the model's
  initial pose (`qpos0`): the engine's joints need a child's frame to equal its
  parent's at zero angle, so no body may carry a rotation of its own.
- Orientation: `pos`, `quat`, `euler` (with `compiler eulerseq`), `axisangle`,
  `xyaxes`, `zaxis`, in `compiler angle` units (degree by default);
  `coordinate="global"` is an error.
- Mass and inertia from `<inertial>` or from the geoms (`inertiafromgeom`
  true/false/auto) by MuJoCo's rules: `density` (default 1000 kg/m^3) times
  the solid volume, or the geom's `mass`; sphere, capsule (cylinder plus two
  hemispheres), cylinder and box solids; `settotalmass` rescales masses and
  inertias. The parts are composed about the body's centre of mass with the
  parallel-axis rule into a 3x3 tensor in the body frame. The engine takes
  principal moments on the body axes, so it gets the tensor's diagonal: the
  moment about each body axis is exact, and products of inertia (non-zero
  where the principal frame is rotated against the world axes, e.g. a leg at
  45 degrees) are dropped. That is an approximation: an error under
  `strict=True`, a warning otherwise.
- Joints. A body's hinges become one engine joint of 1, 2 or 3 DoF when their
  axes are mutually orthogonal and share an anchor: hinge k is DoF k (x, y',
  z'' of the joint frame, the order MuJoCo composes them in); a third axis
  against the right-hand rule is DoF 3 with its sign flipped (`JointMap.sign`).
  A ball joint is a 3-DoF joint on the body axes. A free joint on a child of
  `<worldbody>` makes a free body. Slides and hinges along world axes on a
  child of `<worldbody>` (hopper's rootx/rootz/rooty) free those world axes of
  the body and freeze the rest. Hinges on a child of `<worldbody>` without
  slides join it to the `world` body. `range` (with `limited`/`autolimits`;
  `ref` shifts it to the engine's zero) -> limits, unlimited -> (-180, 180);
  `damping` -> `angular_damping`. Joint anchors and frames are exact.
- Actuators: `motor` -> torque actuator, `position` -> angle actuator
  (strength kp, gear g^2: tau = kp g (ctrl - g q)). An engine joint has one
  gear for all its DoFs; `MjcfImport.actuators` says which action slot each
  MJCF actuator drives and the affine map from its `ctrl` to that slot
  (`action[slot] = scale * ctrl + offset`; `MjcfImport.action(ctrl)` applies
  it), which makes differing gears per DoF exact. `ctrlrange`/`ctrllimited` are recorded there (the engine itself
  does not clip torque actions).
- Geoms: sphere, capsule (`size` or `fromto`), box, plane (world geoms only).
  A cylinder is an error under `strict=True`; with `strict=False` it collides
  as a capsule of the same radius and total length (its mass is the
  cylinder's). Collision filter: MuJoCo's rule (contype/conaffinity bits, no
  contact within a welded body, between a jointed parent and child, or
  between two static geoms; `<contact><exclude>`) evaluated for every geom
  pair and turned into the engine's `collide_include` body pairs; geoms that
  collide with nothing carry mass only.
- `option`: `timestep` -> dt, `gravity`, `<flag contact/gravity="disable">`.

Always replaced by the engine's own method, recorded in `MjcfImport.notes`
(never an error): the integrator and solver settings, contact softness and
margins (`solref`, `solimp`, `margin`, `gap`, `condim`, the torsional and
rolling parts of `friction`), and everything that only renders or labels
(materials, textures, lights, cameras, sites, `rgba`, `group`, `user`,
`custom`, `size`, `visual`, `statistic`). The engine's contacts use one
Coulomb friction: the per-pair MuJoCo friction max(mu1, mu2) where all pairs
agree, otherwise (an approximation) their mean.

Not representable, an error under `strict=True` and a warning with the
approximation named under `strict=False`: joint `armature` A (MuJoCo
adds it to the joint's own diagonal of the mass matrix; here a rotor on both
the joint's parent and child, as a thin disc: A about the joint axis and A/2
about every axis across it, then the diagonal as above; see "Armature"
below), joint
`stiffness` (dropped: the engine has no joint spring), `frictionloss`,
damping and limits on frozen-axis roots, unequal damping across a joint's
DoFs (their mean), a ball joint's cone `range` (that angle on each Euler
axis), actuators on frozen-axis roots, tendons, equality constraints,
sensors and keyframes (dropped), fluid forces (`density`, `viscosity`:
dropped). Always an error: malformed XML, unknown elements, mesh, hfield,
ellipsoid and sdf geoms, slide joints below the root, non-orthogonal hinges,
a moving body with zero mass, an actuator on a missing joint, `include`.
Every error names the element, the attribute and the line.

Armature. Added only about the axis (A n n^T), it made bodies no rigid
body can be: the gymnasium ant's torso got moments (0.011, 0.011, 4.01) kg m^2
(four hip armatures of 1 about z on a 0.48 kg sphere), against the triangle
inequality I_x + I_y >= I_z that every mass distribution obeys. Euler's
equations, integrated explicitly, then carry the gyroscopic coupling
(I_y - I_z) / I_x ~ -360 and the torso's tumbling grows without bound: under
uniform random controls over the full ctrlrange 64 of 64 ant scenes were
non-finite within 1000 steps (the median after 114). A disc A/2 (1 + n n^T)
is a physical inertia, so every body's moments keep the triangle inequality
and the couplings stay within 1; the ant's torso is (2.01, 2.01, 4.01), and
64 of 64 scenes x 1000 full-range steps stay finite with no collider more
than 7 mm into the floor (half_cheetah, hopper, walker2d_v5, humanoid: all
finite, at most 3.5 mm; `tests/physics/test_mjcf.py`). The price: a rotor's
inertia across its axis, which MuJoCo does not have, also on the parent
(the ant's torso resists tipping as if 2 kg m^2 heavier).

Engine constants the MJCF has no word for: `SUBSTEPS` substeps per step, and
each joint's anchor spring `stiffness` set from the lighter body's mass and
smallest moment so that the joint's fastest mode has omega * h =
`JOINT_OMEGA_H` (h = dt / substeps), critically damped; Coulomb friction on
planes unscaled (`plane_friction_scale` 1). Tried against the ant's blow-up:
20 substeps left 3 of 8 scenes non-finite within 200 steps (the inertia, not
the step, was at fault), and `JOINT_OMEGA_H` 0.6 made every ant scene blow up
(its 0.04 kg hip bodies hang on two joint springs each). At 0.3 the joint
anchors of the 5 files above open by at most 13 cm under full-range controls
(99th percentile 6 cm; the ant's 150 N m motors on 0.04-0.07 kg legs, the
humanoid's 300 N m hips), which is the springs' compliance, not a fault.
"""

from __future__ import annotations

import dataclasses
import math
import pathlib
import warnings as _warnings
import xml.etree.ElementTree as ET
from xml.parsers import expat
from dataclasses import dataclass

import numpy as np

from gambol.physics.rigid.spec import Actuator, Body, Collider, Joint, SpecError, SystemSpec, validate
from gambol.physics.rigid.system import PAIR_KINDS

SUBSTEPS = 10
JOINT_OMEGA_H = 0.3
LIMIT_DAMPING_H = 0.5
DEFAULT_DENSITY = 1000.0

# Attributes replaced by the engine's own method, or only for rendering.
IGNORED = {
    "compiler": {"meshdir", "texturedir", "assetdir", "strippath", "discardvisual", "fusestatic",
                 "inertiagrouprange", "exactmeshinertia", "usethread", "saveinertial", "alignfree"},
    "option": {"integrator", "iterations", "solver", "tolerance", "ls_iterations", "ls_tolerance",
               "noslip_iterations", "noslip_tolerance", "ccd_iterations", "ccd_tolerance", "cone",
               "jacobian", "impratio", "o_margin", "o_solref", "o_solimp", "o_friction",
               "magnetic", "apirate", "sdf_iterations", "sdf_initpoints"},
    "body": {"gravcomp", "user"},
    "joint": {"solreflimit", "solimplimit", "solreffriction", "solimpfriction", "margin", "group",
              "user", "actuatorfrclimited", "actuatorfrcrange", "actuatorgravcomp"},
    "geom": {"solref", "solimp", "margin", "gap", "condim", "priority", "solmix", "group", "user",
             "rgba", "material", "hfield", "mesh", "fitscale"},
    "motor": {"group", "user"},
    "position": {"group", "user"},
    "inertial": set(),
}
RENDER_ONLY = {"asset", "visual", "statistic", "size", "custom", "light", "camera", "site"}
HANDLED = {
    "compiler": {"angle", "eulerseq", "inertiafromgeom", "coordinate", "settotalmass", "autolimits"},
    "option": {"timestep", "gravity", "density", "viscosity", "wind"},
    "body": {"name", "pos", "quat", "euler", "axisangle", "xyaxes", "zaxis", "childclass"},
    "joint": {"name", "type", "pos", "axis", "range", "limited", "damping", "stiffness", "armature",
              "ref", "springref", "frictionloss", "class"},
    "freejoint": {"name", "align"},
    "geom": {"name", "type", "size", "pos", "quat", "euler", "axisangle", "xyaxes", "zaxis", "fromto",
             "density", "mass", "contype", "conaffinity", "friction", "class", "shellinertia"},
    "inertial": {"pos", "quat", "euler", "axisangle", "xyaxes", "zaxis", "mass", "diaginertia",
                 "fullinertia"},
    "motor": {"name", "joint", "gear", "ctrlrange", "ctrllimited", "forcerange", "forcelimited",
              "class"},
    "position": {"name", "joint", "gear", "ctrlrange", "ctrllimited", "forcerange", "forcelimited",
                 "kp", "kv", "class"},
}
ACTUATOR_TAGS = ("motor", "position")
UNSUPPORTED_ELEMENTS = {
    "tendon": "tendons are not supported", "equality": "equality constraints are not supported",
    "sensor": "sensors are not supported", "keyframe": "keyframes are not supported",
}


class MjcfWarning(UserWarning):
    """An MJCF feature imported as an approximation (`strict=False`)."""


@dataclass(frozen=True)
class JointMap:
    """Where an MJCF joint went. `joint`: the spec joint (None for a root's
    freed world axes, a free joint or a dropped joint); `dof`: its DoF index
    (for a root axis, the world axis 0-2); `sign`: -1 where the engine's DoF
    turns against the MJCF axis; `ref`: the hinge's MJCF angle at the engine's
    zero (radians; for a root's slide, its position at the initial pose, in
    metres); `body`: the spec body that moves."""
    type: str
    body: str
    joint: str | None = None
    dof: int = 0
    sign: float = 1.0
    ref: float = 0.0


@dataclass(frozen=True)
class ActuatorMap:
    """One MJCF actuator: it drives action `slot` (None: dropped) with
    `action[slot] = scale * ctrl + offset`; `ctrlrange` as in the XML (None
    when not limited)."""
    name: str
    slot: int | None
    scale: float = 1.0
    offset: float = 0.0
    ctrlrange: tuple[float, float] | None = None


@dataclass(frozen=True)
class RootSlide:
    """A slide joint of a child of `<worldbody>` that carries a force the
    engine does not apply (an actuator, damping or a range): the engine frees
    world axis `axis` of `body` and the env applies the force along it
    (`envs.mjcf_envs`; the engine's actions drive joints only). `sign`, `ref`:
    as `JointMap` (q = ref + sign (x_o - x_o0)_axis of the MJCF body origin);
    `damping` [N s/m]; `range` (lo, hi) of q or None; `limit_strength`,
    `limit_damping`: the one-sided spring and damper past the range (set as a
    joint's: omega h = JOINT_OMEGA_H on the body's mass, critical);
    `actuator`: the index in `MjcfImport.actuators` of the motor driving it
    (None: none), force = `gear` ctrl along the MJCF axis."""
    joint: str
    body: str
    axis: int
    sign: float
    ref: float
    damping: float
    range: tuple[float, float] | None
    limit_strength: float
    limit_damping: float
    actuator: int | None = None
    gear: float = 0.0


@dataclass(frozen=True)
class MjcfImport:
    """A loaded MJCF model. `bodies`: MJCF body name -> spec body (unnamed
    bodies are `body<id>`, MuJoCo's body id); `rest_position`: every spec
    body's centre of mass at the MJCF initial pose; `rest_origin`: the frame
    origin of the MJCF body that carries each jointed spec body's joints (what
    MuJoCo's root qpos and `xpos` track), at that pose (the spec's root
    `position` z is instead the height of the tree's lowest collider point,
    what `default_qp` lifts it to); `joints`: MJCF joint name -> `JointMap`;
    `actuators`: one `ActuatorMap` per MJCF actuator, in MJCF order;
    `colliders`: MuJoCo geom id -> (spec body, collider index) for geoms
    that collide; `body_origins`: every MJCF body's frame origin at the
    initial pose (unnamed bodies `body<id>`); `root_slides`: the `RootSlide`s
    whose forces the env applies; `warnings`: every approximation made (empty when strict);
    `notes`: settings the engine replaces by its own method."""
    spec: SystemSpec
    bodies: dict
    rest_position: dict
    rest_origin: dict
    joints: dict
    actuators: tuple
    colliders: dict
    warnings: tuple
    notes: tuple
    body_origins: dict = dataclasses.field(default_factory=dict)
    root_slides: tuple = ()

    def action(self, ctrl):
        """The engine action [..., spec action size] of MJCF controls `ctrl`
        [..., len(actuators)] (MJCF actuator order), each clipped to its
        `ctrlrange` as MuJoCo clamps it: action[slot] = scale ctrl + offset
        (numpy or jax arrays; dropped actuators move nothing)."""
        size = self.spec.action_size
        lo = np.array([a.ctrlrange[0] if a.ctrlrange else -np.inf for a in self.actuators])
        hi = np.array([a.ctrlrange[1] if a.ctrlrange else np.inf for a in self.actuators])
        gain, bias = np.zeros((len(self.actuators), size)), np.zeros(size)
        for i, a in enumerate(self.actuators):
            if a.slot is not None:
                gain[i, a.slot], bias[a.slot] = a.scale, a.offset
        dtype = ctrl.dtype
        return ctrl.clip(lo.astype(dtype), hi.astype(dtype)) @ gain.astype(dtype) + bias.astype(dtype)


def load_mjcf(path_or_xml, strict: bool = True, substeps: int = SUBSTEPS) -> SystemSpec:
    """The `SystemSpec` of an MJCF file (path) or text. Raises `SpecError`
    naming element, attribute and line for anything the engine cannot
    represent; with `strict=False` approximates instead and emits each
    approximation as an `MjcfWarning` (see `import_mjcf` for the list and the
    mapping of names and actions)."""
    result = import_mjcf(path_or_xml, strict, substeps)
    for w in result.warnings:
        _warnings.warn(w, MjcfWarning, stacklevel=2)
    return result.spec


def import_mjcf(path_or_xml, strict: bool = True, substeps: int = SUBSTEPS) -> MjcfImport:
    """`load_mjcf` with everything it learned: see `MjcfImport`. `substeps`:
    engine substeps per MJCF timestep (the joint springs stiffen as h^-2)."""
    if not isinstance(substeps, int) or isinstance(substeps, bool) or substeps < 1:
        raise ValueError(f"load_mjcf: substeps expected an int >= 1, got {substeps!r}")
    text = str(path_or_xml)
    if isinstance(path_or_xml, pathlib.Path) or not text.lstrip().startswith("<"):
        path = pathlib.Path(text)
        if not path.exists():
            raise FileNotFoundError(f"load_mjcf: no MJCF file at {path}")
        text = path.read_text()
    return _Reader(text, strict, substeps).run()


# -- rotations (matrices act on column vectors; quaternions are w, x, y, z) --

def _quat_matrix(q) -> np.ndarray:
    w, x, y, z = np.asarray(q, float) / np.linalg.norm(q)
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
                     [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
                     [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)]])


def _axis_angle(axis, angle) -> np.ndarray:
    axis = np.asarray(axis, float) / np.linalg.norm(axis)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + math.sin(angle) * k + (1 - math.cos(angle)) * k @ k


def _z_to(z) -> np.ndarray:
    """The smallest rotation taking the z axis onto direction `z`."""
    z = np.asarray(z, float) / np.linalg.norm(z)
    axis = np.cross([0.0, 0.0, 1.0], z)
    s = np.linalg.norm(axis)
    if s < 1e-12:
        return np.eye(3) if z[2] > 0 else _axis_angle([1.0, 0.0, 0.0], math.pi)
    return _axis_angle(axis, math.atan2(s, z[2]))


def _euler_deg(r: np.ndarray) -> tuple:
    """Intrinsic x-y'-z'' angles (degrees) of a rotation matrix, the spec's
    convention: r = Rx(a) Ry(b) Rz(c)."""
    b = math.asin(max(-1.0, min(1.0, r[0, 2])))
    if abs(r[0, 2]) < 1 - 1e-12:
        a, c = math.atan2(-r[1, 2], r[2, 2]), math.atan2(-r[0, 1], r[0, 0])
    else:
        a, c = math.atan2(r[2, 1], r[1, 1]), 0.0
    return tuple(math.degrees(v) + 0.0 for v in (a, b, c))


def _perpendicular(x: np.ndarray) -> np.ndarray:
    e = np.eye(3)[int(np.argmin(np.abs(x)))]
    y = e - (e @ x) * x
    return y / np.linalg.norm(y)


# -- solids: mass [kg] and inertia [3, 3] about their centre, in the geom frame

def _solid(kind: str, size) -> tuple[float, np.ndarray]:
    """(volume [m^3], inertia per unit mass [3] about the centre, geom axes)."""
    if kind == "sphere":
        r = size[0]
        return 4 / 3 * math.pi * r ** 3, np.full(3, 0.4 * r * r)
    if kind == "box":
        a, b, c = size[:3]
        return 8 * a * b * c, np.array([b * b + c * c, a * a + c * c, a * a + b * b]) / 3
    r, h = size[0], size[1]                 # radius and half-length of the cylinder part
    cyl = math.pi * r * r * 2 * h
    if kind == "cylinder":
        return cyl, np.array([r * r / 4 + h * h / 3, r * r / 4 + h * h / 3, r * r / 2])
    sph = 4 / 3 * math.pi * r ** 3          # capsule: the cylinder plus two hemispheres
    height = 2 * h
    side = (cyl * (height ** 2 / 12 + r * r / 4)
            + sph * (0.4 * r * r + height ** 2 / 4 + 3 * height * r / 8))
    axial = cyl * r * r / 2 + sph * 0.4 * r * r
    vol = cyl + sph
    return vol, np.array([side, side, axial]) / vol


@dataclass
class _Part:
    mass: float
    com: np.ndarray          # [3] world position at qpos0
    inertia: np.ndarray      # [3, 3] about com, world axes


@dataclass(eq=False)
class _Geom:
    el: ET.Element
    index: int
    kind: str
    size: list
    pos: np.ndarray          # [3] world
    rot: np.ndarray          # [3, 3] world
    contype: int
    conaffinity: int
    friction: float
    body_id: int             # MuJoCo's body id (pre-order over the tree)


@dataclass
class _Group:
    """An engine body: one MJCF body and the bodies welded into it."""
    name: str
    el: ET.Element | None
    parent: "_Group | None"
    kind: str = "world"             # world | free | axes | joint
    parts: list = dataclasses.field(default_factory=list)
    geoms: list = dataclasses.field(default_factory=list)
    extra_inertia: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros((3, 3)))
    joint: dict | None = None       # the engine joint to `parent`
    frozen_position: list = dataclasses.field(default_factory=lambda: [1, 1, 1])
    frozen_rotation: list = dataclasses.field(default_factory=lambda: [1, 1, 1])
    mass: float = 0.0
    com: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(3))
    origin: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(3))   # MJCF body frame


class _Reader:
    def __init__(self, text: str, strict: bool, substeps: int = SUBSTEPS):
        self.strict, self.substeps = strict, substeps
        self.warnings: list[str] = []
        self.notes: dict = {}
        self.lines: dict = {}
        self.root = self._parse(text)

    # -- XML with line numbers, and messages naming element/attribute/line

    def _parse(self, text: str) -> ET.Element:
        """The element tree of `text`, recording each element's line."""
        parser = expat.ParserCreate()
        stack: list = []
        top: list = []

        def start(tag, attrs):
            el = ET.SubElement(stack[-1], tag, attrs) if stack else ET.Element(tag, attrs)
            self.lines[id(el)] = parser.CurrentLineNumber
            top.append(el) if not stack else None
            stack.append(el)

        parser.StartElementHandler = start
        parser.EndElementHandler = lambda tag: stack.pop()
        try:
            parser.Parse(text, True)
        except expat.ExpatError as e:
            raise SpecError(f"malformed XML at line {e.lineno}: {expat.ErrorString(e.code)}") from None
        root = top[0]
        self._keep = root            # ids stay valid while the tree lives
        if root.tag != "mujoco":
            self.fail(root, None, "the root element must be <mujoco>")
        return root

    def where(self, el) -> str:
        name = el.get("name")
        label = f"{el.tag} {name!r}" if name else el.tag
        return f"{label} at line {self.lines.get(id(el), '?')}"

    def fail(self, el, attr, why):
        at = f", attribute {attr!r}" if attr else ""
        raise SpecError(f"{self.where(el)}{at}: {why}")

    def approx(self, el, attr, why):
        """Something the engine cannot represent: an error when strict, else a warning."""
        if self.strict:
            self.fail(el, attr, why + " (load with strict=False to approximate)")
        at = f", attribute {attr!r}" if attr else ""
        self.warnings.append(f"{self.where(el)}{at}: {why}")

    def note(self, el, attr):
        key = (el.tag, attr)
        if key not in self.notes:
            what = f"attribute {attr!r}" if attr else "element"
            self.notes[key] = (f"{el.tag} {what} (first at line {self.lines.get(id(el), '?')}): "
                               "replaced by the engine's own method or only used for rendering")

    # -- attributes: explicit, else the element's default class

    def get(self, el, attr, default=None):
        if attr in el.attrib:
            return el.attrib[attr]
        cls = self.class_of.get(id(el), "main")
        return self.defaults.get(cls, {}).get(el.tag, {}).get(attr, default)

    def floats(self, el, attr, n=None, default=None, at_least=None):
        raw = self.get(el, attr)
        if raw is None:
            if default is None:
                self.fail(el, attr, "missing")
            return list(default)
        try:
            v = [float(x) for x in raw.split()]
        except ValueError:
            self.fail(el, attr, f"expected numbers, got {raw!r}")
        if (n is not None and len(v) != n) or (at_least is not None and len(v) < at_least) or not v:
            self.fail(el, attr, f"expected {n or f'at least {at_least}'} numbers, got {raw!r}")
        if not all(math.isfinite(x) for x in v):
            self.fail(el, attr, f"expected finite numbers, got {raw!r}")
        return v

    def number(self, el, attr, default):
        return self.floats(el, attr, 1, [default])[0]

    def boolean(self, el, attr, default):
        raw = self.get(el, attr)
        if raw is None:
            return default
        if raw not in ("true", "false", "auto"):
            self.fail(el, attr, f"expected true, false or auto, got {raw!r}")
        return raw

    def check_attributes(self, el):
        """Every attribute (explicit or from a default class) is handled,
        ignored with a note, or not supported."""
        cls = self.class_of.get(id(el), "main")
        names = set(el.attrib) | set(self.defaults.get(cls, {}).get(el.tag, {}))
        for attr in sorted(names):
            if attr in HANDLED.get(el.tag, ()):
                continue
            if attr in IGNORED.get(el.tag, ()):
                self.note(el, attr)
            else:
                self.approx(el, attr, f"attribute not supported by the engine (dropped)")

    def angle(self, value: float) -> float:
        return math.radians(value) if self.degrees else value

    def orientation(self, el) -> np.ndarray:
        """The rotation [3, 3] of an element's frame in its parent's frame."""
        given = [a for a in ("quat", "axisangle", "euler", "xyaxes", "zaxis") if self.get(el, a) is not None]
        if len(given) > 1:
            self.fail(el, given[1], f"only one orientation may be given, got {given}")
        if not given:
            return np.eye(3)
        kind = given[0]
        if kind == "quat":
            q = self.floats(el, kind, 4)
            if np.linalg.norm(q) < 1e-12:
                self.fail(el, kind, "a zero quaternion")
            return _quat_matrix(q)
        if kind == "axisangle":
            v = self.floats(el, kind, 4)
            if np.linalg.norm(v[:3]) < 1e-12:
                self.fail(el, kind, "a zero axis")
            return _axis_angle(v[:3], self.angle(v[3]))
        if kind == "zaxis":
            v = self.floats(el, kind, 3)
            if np.linalg.norm(v) < 1e-12:
                self.fail(el, kind, "a zero axis")
            return _z_to(v)
        if kind == "xyaxes":
            v = np.array(self.floats(el, kind, 6))
            x = v[:3] / max(np.linalg.norm(v[:3]), 1e-300)
            y = v[3:] - (v[3:] @ x) * x
            if np.linalg.norm(v[:3]) < 1e-12 or np.linalg.norm(y) < 1e-12:
                self.fail(el, kind, "x and y must be non-zero and not parallel")
            y /= np.linalg.norm(y)
            return np.column_stack([x, y, np.cross(x, y)])
        angles = self.floats(el, kind, 3)
        r = np.eye(3)
        for axis, a in zip(self.eulerseq, angles):
            step = _axis_angle(np.eye(3)["xyz".index(axis.lower())], self.angle(a))
            r = r @ step if axis.islower() else step @ r
        return r

    # -- the document ------------------------------------------------------

    def run(self) -> MjcfImport:
        root = self.root
        self.class_of: dict = {}
        self.defaults: dict = {}
        self.model = root.get("model") or "mjcf"
        known = {"compiler", "option", "default", "worldbody", "actuator", "contact"} | RENDER_ONLY
        for el in root:
            if el.tag in UNSUPPORTED_ELEMENTS:
                if len(el):
                    self.approx(el, None, UNSUPPORTED_ELEMENTS[el.tag] + " (dropped)")
            elif el.tag not in known:
                self.fail(el, None, f"<{el.tag}> is not supported")
            elif el.tag in RENDER_ONLY:
                self.note(el, None)
        for d in root.findall("default"):
            self.read_defaults(d, "main", {})
        self.read_compiler(root.findall("compiler"))
        self.read_option(root.findall("option"))
        worlds = root.findall("worldbody")
        self.world = _Group("world", worlds[0] if worlds else None, None)
        self.groups = [self.world]
        self.joint_maps: dict = {}
        self.mjcf_bodies = {"world": self.world}
        self.body_count, self.body_ids, self.body_origins = 1, {}, {}
        self.slide_info, self.slide_motors, self.joint_order = {}, {}, []
        self.all_geoms: list = []
        for w in worlds:
            self.read_children(w, self.world, np.zeros(3), np.eye(3), "main")
        self.mass_properties()
        joints = self.build_joints()
        actuators, act_maps = self.read_actuators(root.findall("actuator"), joints)
        include, friction, colliders = self.collisions(root.findall("contact"))
        bodies = self.build_bodies(colliders)
        ordered = sorted(self.all_geoms, key=lambda g: (g.body_id, g.index))
        mujoco_id = {g.index: k for k, g in enumerate(ordered)}
        spec = SystemSpec(
            name=self.model, bodies=bodies, joints=tuple(j for j, _ in joints.values()),
            actuators=actuators, dt=self.timestep, substeps=self.substeps, gravity=self.gravity,
            friction=friction, plane_friction_scale=1.0,
            collisions=self.contact_on and bool(include), collide_include=include)
        try:
            validate(spec)
        except SpecError as e:
            raise SpecError(f"{self.model}: the imported spec is invalid: {e}") from None
        slides = self.root_slides(act_maps)
        self.joint_maps = {n: self.joint_maps[n] for n in self.joint_order}      # MuJoCo's qpos order
        return MjcfImport(
            spec=spec, bodies={name: g.name for name, g in self.mjcf_bodies.items()},
            rest_position={g.name: tuple(float(x) for x in g.com) for g in self.groups},
            rest_origin={g.name: tuple(float(x) for x in g.origin) for g in self.groups},
            joints=self.joint_maps, actuators=tuple(act_maps),
            colliders={mujoco_id[g.index]: loc for g, loc in colliders.items()},
            warnings=tuple(self.warnings), notes=tuple(self.notes.values()),
            body_origins=self.body_origins, root_slides=slides)

    def read_defaults(self, el, parent_name, inherited):
        name = el.get("class", "main") if parent_name != "main" or el.get("class") else "main"
        if parent_name != "main" and el.get("class") is None:
            self.fail(el, "class", "a nested <default> needs a class name")
        table = {tag: dict(attrs) for tag, attrs in inherited.items()}
        for child in el:
            if child.tag == "default":
                continue
            table.setdefault(child.tag, {}).update(child.attrib)
        self.defaults[name] = table
        for child in el:
            if child.tag == "default":
                self.read_defaults(child, name, table)

    def read_compiler(self, els):
        self.degrees, self.eulerseq, self.inertia_from_geom = True, "xyz", "auto"
        self.total_mass, self.autolimits = None, True
        for el in els:
            self.check_attributes(el)
            angle = self.get(el, "angle", "degree")
            if angle not in ("degree", "radian"):
                self.fail(el, "angle", f"expected degree or radian, got {angle!r}")
            self.degrees = angle == "degree"
            seq = self.get(el, "eulerseq", "xyz")
            if len(seq) != 3 or any(c not in "xyzXYZ" for c in seq):
                self.fail(el, "eulerseq", f"expected three of xyzXYZ, got {seq!r}")
            self.eulerseq = seq
            self.inertia_from_geom = self.boolean(el, "inertiafromgeom", "auto")
            if self.get(el, "coordinate", "local") != "local":
                self.fail(el, "coordinate", "only local coordinates are supported (MuJoCo 3 "
                          "removed global)")
            if self.get(el, "settotalmass") is not None:
                self.total_mass = self.number(el, "settotalmass", -1.0)
                if self.total_mass <= 0:
                    self.total_mass = None
            self.autolimits = self.boolean(el, "autolimits", "true") == "true"

    def read_option(self, els):
        self.timestep, self.gravity, self.contact_on = 0.002, (0.0, 0.0, -9.81), True
        for el in els:
            self.check_attributes(el)
            self.timestep = self.number(el, "timestep", 0.002)
            if self.timestep <= 0:
                self.fail(el, "timestep", f"expected a positive number, got {self.timestep}")
            self.gravity = tuple(self.floats(el, "gravity", 3, [0.0, 0.0, -9.81]))
            for attr, n in (("density", 1), ("viscosity", 1), ("wind", 3)):
                if any(self.floats(el, attr, n, [0.0] * n)):
                    self.approx(el, attr, "fluid forces are not supported (dropped)")
            for child in el:
                if child.tag != "flag":
                    self.fail(child, None, f"<{child.tag}> is not supported in <option>")
                for attr, value in child.attrib.items():
                    if value not in ("enable", "disable"):
                        self.fail(child, attr, f"expected enable or disable, got {value!r}")
                    if attr == "contact":
                        self.contact_on = value == "enable"
                    elif attr == "gravity" and value == "disable":
                        self.gravity = (0.0, 0.0, 0.0)
                    else:
                        self.note(child, attr)

    # -- the body tree -------------------------------------------------------

    def classify(self, el, childclass):
        cls = el.get("class", childclass)
        if cls != "main" and cls not in self.defaults:
            self.fail(el, "class", f"no default class {cls!r}")
        self.class_of[id(el)] = cls

    def read_children(self, parent_el, group, pos, rot, childclass):
        """Geoms, inertials and bodies under `parent_el` (a body at world
        position `pos` [3] and rotation `rot` [3, 3] at qpos0)."""
        for el in parent_el:
            if el.tag in ("geom", "inertial", "joint", "freejoint", "body"):
                self.classify(el, childclass)
            if el.tag == "geom":
                self.read_geom(el, group, pos, rot, parent_el)
            elif el.tag == "body":
                self.read_body(el, group, pos, rot, childclass)
            elif el.tag in ("joint", "freejoint", "inertial"):
                if parent_el.tag == "worldbody":
                    self.fail(el, None, f"<{el.tag}> cannot be a child of <worldbody>")
            elif el.tag in RENDER_ONLY:
                self.note(el, None)
            elif el.tag in ("frame", "replicate", "attach", "composite", "flexcomp", "include"):
                self.fail(el, None, f"<{el.tag}> is not supported (expand it into bodies first)")
            else:
                self.fail(el, None, f"unknown element <{el.tag}> in <{parent_el.tag}>")

    def read_body(self, el, parent, ppos, prot, childclass):
        if el.get("mocap") is not None:
            self.fail(el, "mocap", "mocap bodies are not supported")
        self.check_attributes(el)
        childclass = el.get("childclass", childclass)
        if childclass != "main" and childclass not in self.defaults:
            self.fail(el, "childclass", f"no default class {childclass!r}")
        pos = ppos + prot @ np.array(self.floats(el, "pos", 3, [0.0, 0.0, 0.0]))
        rot = prot @ self.orientation(el)
        name = el.get("name") or f"body{self.body_count}"
        self.body_ids[id(el)] = self.body_count
        self.body_origins[name] = tuple(float(x) for x in pos)
        self.body_count += 1
        if name in self.mjcf_bodies:
            self.fail(el, "name", f"a second body named {name!r}")
        joints = [j for j in el if j.tag in ("joint", "freejoint")]
        for j in joints:
            self.classify(j, childclass)
            self.check_attributes(j)
        group = parent if not joints else self.new_group(el, name, parent, joints, pos, rot)
        self.mjcf_bodies[name] = group
        inertials = [i for i in el if i.tag == "inertial"]
        if len(inertials) > 1:
            self.fail(inertials[1], None, "a body may have one <inertial>")
        start = len(group.parts)
        self.read_children(el, group, pos, rot, childclass)
        use_geoms = self.inertia_from_geom == "true" or (self.inertia_from_geom == "auto" and not inertials)
        if not use_geoms:
            del group.parts[start:]
            if inertials:
                group.parts.append(self.read_inertial(inertials[0], pos, rot))

    def read_inertial(self, el, pos, rot) -> _Part:
        self.check_attributes(el)
        mass = self.number(el, "mass", float("nan"))
        if not mass >= 0:
            self.fail(el, "mass", "expected a mass >= 0")
        frame = rot @ self.orientation(el)
        if self.get(el, "fullinertia") is not None:
            xx, yy, zz, xy, xz, yz = self.floats(el, "fullinertia", 6)
            local = np.array([[xx, xy, xz], [xy, yy, yz], [xz, yz, zz]])
        else:
            local = np.diag(self.floats(el, "diaginertia", 3))
        return _Part(mass, pos + rot @ np.array(self.floats(el, "pos", 3)), frame @ local @ frame.T)

    def read_geom(self, el, group, bpos, brot, body_el):
        self.check_attributes(el)
        kind = self.get(el, "type", "sphere")
        if kind not in ("sphere", "capsule", "box", "plane", "cylinder"):
            self.fail(el, "type", f"{kind} geoms are not supported (sphere, capsule, box, plane; "
                      "cylinder as a capsule with strict=False)")
        index = len(self.all_geoms)
        size = self.floats(el, "size", None, [0.0, 0.0, 0.0], at_least=1)
        need = {"sphere": 1, "capsule": 2, "cylinder": 2, "box": 3, "plane": 0}[kind]
        pos = np.array(self.floats(el, "pos", 3, [0.0, 0.0, 0.0]))
        local = self.orientation(el)
        if self.get(el, "fromto") is not None:
            if kind not in ("capsule", "cylinder"):
                self.fail(el, "fromto", f"fromto is supported for capsules and cylinders, not {kind}")
            ft = np.array(self.floats(el, "fromto", 6))
            axis = ft[3:] - ft[:3]
            if np.linalg.norm(axis) < 1e-12:
                self.fail(el, "fromto", "the two ends coincide")
            pos, local = (ft[:3] + ft[3:]) / 2, _z_to(axis)
            size = [size[0], np.linalg.norm(axis) / 2]
            need = 1
        if len(size) < need or any(s <= 0 for s in size[:max(need, 1)] if kind != "plane"):
            self.fail(el, "size", f"a {kind} needs {need} positive size(s), got {size}")
        if self.get(el, "shellinertia", "false") == "true":
            self.approx(el, "shellinertia", "shell inertia is not supported (solid used)")
        if kind == "cylinder":
            self.approx(el, "type", "cylinders are not supported (collides as a capsule of the "
                        "same radius and total length)")
        wpos, wrot = bpos + brot @ pos, brot @ local
        friction = self.floats(el, "friction", None, [1.0, 0.005, 0.0001], at_least=1)[0]
        if len(self.floats(el, "friction", None, [1.0], at_least=1)) > 1:
            self.note(el, "friction")
        contype = int(self.number(el, "contype", 1))
        conaffinity = int(self.number(el, "conaffinity", 1))
        geom = _Geom(el, index, kind, size, wpos, wrot, contype, conaffinity, friction,
                     self.body_ids.get(id(body_el), 0))
        self.all_geoms.append(geom)
        group.geoms.append(geom)
        if kind == "plane":
            if group is not self.world:
                self.fail(el, "type", "planes are supported only as static (world) geoms")
            return
        if group is self.world:
            return                    # static geometry carries no mass
        vol, unit = _solid(kind, size)
        if self.get(el, "mass") is not None:
            mass = self.number(el, "mass", 0.0)
        else:
            mass = self.number(el, "density", DEFAULT_DENSITY) * vol
        if mass < 0:
            self.fail(el, "mass" if self.get(el, "mass") is not None else "density", "negative mass")
        group.parts.append(_Part(mass, wpos, wrot @ np.diag(mass * unit) @ wrot.T))

    # -- joints of one body -----------------------------------------------------

    def joint_info(self, j, body_pos, body_rot):
        kind = "free" if j.tag == "freejoint" else self.get(j, "type", "hinge")
        if kind not in ("hinge", "slide", "ball", "free"):
            self.fail(j, "type", f"unknown joint type {kind!r}")
        name = j.get("name") or f"joint{len(self.joint_order)}"
        if name in self.joint_order:
            self.fail(j, "name", f"a second joint named {name!r}")
        self.joint_order.append(name)
        axis = np.array(self.floats(j, "axis", 3, [0.0, 0.0, 1.0]))
        if kind in ("hinge", "slide") and np.linalg.norm(axis) < 1e-12:
            self.fail(j, "axis", "a zero axis")
        axis = body_rot @ axis / max(np.linalg.norm(axis), 1e-300)
        anchor = body_pos + body_rot @ np.array(self.floats(j, "pos", 3, [0.0, 0.0, 0.0]))
        limited = self.boolean(j, "limited", "auto")
        has_range = self.get(j, "range") is not None
        if limited == "auto":
            limited = "true" if (self.autolimits and has_range) else "false"
        rng = None
        if limited == "true" and kind != "free":
            lo, hi = self.floats(j, "range", 2, [0.0, 0.0])
            if not lo < hi and not (kind == "ball" and hi > 0):
                self.fail(j, "range", f"a limited joint needs min < max, got {[lo, hi]}")
            rng = (lo, hi)
        return dict(el=j, type=kind, name=name, axis=axis, anchor=anchor, range=rng,
                    damping=self.number(j, "damping", 0.0), stiffness=self.number(j, "stiffness", 0.0),
                    armature=self.number(j, "armature", 0.0), ref=self.number(j, "ref", 0.0),
                    frictionloss=self.number(j, "frictionloss", 0.0))

    def new_group(self, el, name, parent, joints, pos, rot) -> _Group:
        info = [self.joint_info(j, pos, rot) for j in joints]
        group = _Group(name, el, parent, kind="joint", origin=pos)
        self.groups.append(group)
        types = [i["type"] for i in info]
        for i in info:
            if i["frictionloss"]:
                self.approx(i["el"], "frictionloss", "joint friction is not supported (dropped)")
        at_root = parent is self.world
        if "free" in types:
            if len(info) > 1 or not at_root:
                self.fail(info[0]["el"], "type", "a free joint must be the only joint of a child of "
                          "<worldbody>")
            group.kind, group.frozen_position, group.frozen_rotation = "free", [0, 0, 0], [0, 0, 0]
            self.joint_maps[info[0]["name"]] = JointMap("free", name)
            for i in info:
                self.root_axis_extras(i)
            return group
        if "slide" in types:
            if not at_root:
                bad = info[types.index("slide")]
                self.fail(bad["el"], "type", "slide joints are supported only on children of "
                          "<worldbody> (as free world axes)")
            self.frozen_axes(group, info)
            return group
        if "ball" in types and len(info) > 1:
            self.fail(info[1]["el"], "type", "a ball joint must be its body's only joint")
        if len(info) > 3:
            self.fail(info[3]["el"], "type", "at most three hinges per body")
        group.joint = dict(info=info)
        group.frozen_position, group.frozen_rotation = [0, 0, 0], [0, 0, 0]
        return group

    def root_axis_extras(self, i):
        slide = i["type"] == "slide"
        env_only = "the engine applies no force along a root slide (envs.mjcf_envs applies it: MjcfImport.root_slides)"
        for attr in ("damping", "stiffness", "armature"):
            if i[attr]:
                self.approx(i["el"], attr, env_only if slide and attr == "damping" else
                            f"{attr} on a root's free axes is not supported (dropped)")
        if i["range"] is not None and i["type"] != "free":
            self.approx(i["el"], "range", env_only + ", where the body's slides carry damping or an actuator; "
                        "else dropped" if slide else "limits on a root's free axes are not supported (dropped)")
        if slide:
            self.slide_info[i["name"]] = i

    def frozen_axes(self, group, info):
        """Slides and hinges along world axes on a root: free those axes."""
        group.kind = "axes"
        for i in info:
            if i["type"] == "ball":
                self.fail(i["el"], "type", "a ball joint cannot be combined with slides")
            k = int(np.argmax(np.abs(i["axis"])))
            if abs(abs(i["axis"][k]) - 1) > 1e-9:
                self.fail(i["el"], "axis", "slides and hinges of a root with slides must lie along "
                          "world axes")
            frozen = group.frozen_position if i["type"] == "slide" else group.frozen_rotation
            if frozen[k] == 0:
                self.fail(i["el"], "axis", f"a second {i['type']} along world axis {'xyz'[k]}")
            frozen[k] = 0
            ref = i["ref"] if i["type"] == "slide" else self.angle(i["ref"])
            self.joint_maps[i["name"]] = JointMap(i["type"], group.name, None, k, float(np.sign(i["axis"][k])), ref)
            self.root_axis_extras(i)
        for i in info:
            if i["type"] == "hinge":
                k = int(np.argmax(np.abs(i["axis"])))
                if any(group.frozen_position[m] for m in range(3) if m != k):
                    self.fail(i["el"], "type", "a root hinge needs slides along both world axes "
                              "across it (the body turns about its centre of mass)")

    # -- mass properties -----------------------------------------------------------

    def mass_properties(self):
        movers = [g for g in self.groups if g is not self.world]
        if self.total_mass is not None:
            total = sum(p.mass for g in movers for p in g.parts)
            if total > 0:
                for g in movers:
                    for p in g.parts:
                        p.mass *= self.total_mass / total
                        p.inertia = p.inertia * self.total_mass / total
        for g in movers:
            g.mass = sum(p.mass for p in g.parts)
            if g.mass <= 0:
                self.fail(g.el, "mass", "a moving body with zero mass (no geoms with mass and no "
                          "<inertial>)")
            g.com = sum(p.mass * p.com for p in g.parts) / g.mass
            tensor = np.zeros((3, 3))
            for p in g.parts:
                d = p.com - g.com
                tensor += p.inertia + p.mass * (d @ d * np.eye(3) - np.outer(d, d))
            g.tensor = tensor

    # -- joints ---------------------------------------------------------------------

    def build_joints(self) -> dict:
        """spec joint name -> (Joint, info list) for every jointed body."""
        out = {}
        for g in self.groups:
            if g.joint is None:
                continue
            info = g.joint["info"]
            first = info[0]
            for i in info[1:]:
                if np.linalg.norm(i["anchor"] - first["anchor"]) > 1e-9:
                    self.approx(i["el"], "pos", "the hinges of one body must share an anchor (the "
                                "first one's is used)")
            if first["type"] == "ball":
                frame, signs = np.eye(3), [1.0, 1.0, 1.0]
                if first["armature"]:
                    self.add_armature(g, first["armature"], None, first["el"])
            else:
                frame, signs = self.hinge_frame(info)
            limits = self.joint_limits(info, signs)
            dampings = [i["damping"] for i in info]
            if max(dampings) - min(dampings) > 1e-12 * max(1.0, max(dampings)):
                self.approx(info[0]["el"], "damping", f"one joint's DoFs need one damping, got "
                            f"{dampings} (their mean is used)")
            for i in info:
                if i["stiffness"]:
                    self.approx(i["el"], "stiffness", "joint springs are not supported (dropped)")
                if i["armature"] and i["type"] == "hinge":
                    self.add_armature(g, i["armature"], i["axis"], i["el"])
            name = info[0]["name"] if len(info) == 1 else "+".join(i["name"] for i in info)
            for k, i in enumerate(info):
                ref = self.angle(i["ref"]) if i["type"] == "hinge" else 0.0
                self.joint_maps[i["name"]] = JointMap(i["type"], g.name, name, k, signs[k], ref)
            g.joint.update(name=name, frame=frame, limits=limits,
                           damping=float(np.mean(dampings)), anchor=first["anchor"])
        # the inertia is now final: the spec joints
        for g in self.groups:
            if g.joint is None:
                continue
            p = g.parent
            anchor = g.joint["anchor"]
            k = self.joint_stiffness(p, g)
            m_red = g.mass if p is self.world else g.mass * p.mass / (g.mass + p.mass)
            joint = Joint(
                name=g.joint["name"], parent=p.name, child=g.name, limits=g.joint["limits"],
                parent_offset=tuple(float(x) for x in anchor - p.com),
                child_offset=tuple(float(x) for x in anchor - g.com),
                rotation=_euler_deg(g.joint["frame"]), stiffness=k,
                spring_damping=2 * math.sqrt(k * m_red), angular_damping=g.joint["damping"],
                limit_strength=k, limit_damping=self.limit_damping(p, g, k))
            out[joint.name] = (joint, g)
        return out

    def add_armature(self, g, armature, axis, el):
        """Armature A (a rotor's inertia in joint space) on both bodies of the
        joint (the world excepted) as a thin disc about the joint `axis`
        (None: a ball joint, A about every axis): A about the axis, exact for
        either body turning alone, and it keeps a motor's reaction torque from
        spinning a light parent (the gymnasium ant's torso); A/2 across it
        keeps the body's moments a physical inertia (see the module
        docstring, "Armature")."""
        self.approx(el, "armature", "joint armature is not supported (added to the inertia of "
                    "the joint's parent and child as a disc about the joint axis)")
        # thin disc: I = A/2 (1 + n n^T)
        tensor = armature * (np.eye(3) if axis is None else 0.5 * (np.eye(3) + np.outer(axis, axis)))
        for body in (g, g.parent):
            if body is not self.world:
                body.tensor = body.tensor + tensor

    def hinge_frame(self, info):
        axes = [i["axis"] for i in info]
        for a in range(len(axes)):
            for b in range(a + 1, len(axes)):
                if abs(axes[a] @ axes[b]) > 1e-6:
                    self.fail(info[b]["el"], "axis", f"the hinges of one body must be mutually "
                              f"orthogonal to form one joint (with {info[a]['name']!r})")
        x = axes[0]
        y = axes[1] if len(axes) > 1 else _perpendicular(x)
        z = np.cross(x, y)
        signs = [1.0, 1.0, 1.0]
        if len(axes) == 3 and axes[2] @ z < 0:
            signs[2] = -1.0
        return np.column_stack([x, y, z]), signs

    def joint_limits(self, info, signs):
        limits = []
        for k, i in enumerate(info):
            if i["range"] is None:
                lo, hi = -180.0, 180.0
            elif i["type"] == "ball":
                self.approx(i["el"], "range", "a ball joint's cone limit is not supported (each "
                            "Euler angle is limited to it)")
                hi = math.degrees(self.angle(i["range"][1]))
                return ((-hi, hi),) * 3
            else:
                lo, hi = (math.degrees(self.angle(v - i["ref"])) for v in i["range"])
                if signs[k] < 0:
                    lo, hi = -hi, -lo
            limits.append((lo, hi))
        if info[0]["type"] == "ball":
            return ((-180.0, 180.0),) * 3
        return tuple(limits)

    def limit_damping(self, parent, child, k) -> float:
        """The limit damper c [N m s/rad]: critical for the limit spring k
        against the joint's moment I about its DoF axes through the anchor
        (the reduced moment of parent and child, the smallest over the axes),
        c = 2 sqrt(k I), capped at c h / I_0 = LIMIT_DAMPING_H with I_0 the
        reduced moment about the centres of mass (explicit damping stays stable)."""
        h = self.timestep / self.substeps
        anchor, frame = child.joint["anchor"], child.joint["frame"]
        bodies = [child] if parent is self.world else [parent, child]
        best = math.inf
        for a in frame.T[:len(child.joint["limits"])]:
            about_com = [a @ b.tensor @ a for b in bodies]
            arm = [anchor - b.com for b in bodies]
            about_anchor = [i + b.mass * (d @ d - (d @ a) ** 2) for i, b, d in zip(about_com, bodies, arm)]
            reduce = lambda m: 1 / sum(1 / x for x in m)
            c = min(2 * math.sqrt(k * reduce(about_anchor)), LIMIT_DAMPING_H * reduce(about_com) / h)
            best = min(best, c)
        return float(best)

    def joint_stiffness(self, parent, child) -> float:
        """The anchor spring k [N/m, and N m/rad for the alignment] that puts
        the joint's fastest mode at omega = JOINT_OMEGA_H / h."""
        h = self.timestep / self.substeps
        omega = JOINT_OMEGA_H / h
        light = [child] if parent is self.world else [parent, child]
        smallest = min(min(g.mass, *np.diag(g.tensor)) for g in light)
        return float(omega ** 2 * smallest / 2)

    # -- actuators -------------------------------------------------------------------

    def read_actuators(self, els, joints):
        entries = []
        for block in els:
            for el in block:
                self.classify(el, "main")
                if el.tag not in ACTUATOR_TAGS:
                    self.approx(el, None, f"<{el.tag}> actuators are not supported (dropped)")
                    entries.append((el, None))
                    continue
                self.check_attributes(el)
                jname = self.get(el, "joint")
                if jname is None:
                    self.approx(el, "joint", "only joint transmissions are supported (dropped)")
                    entries.append((el, None))
                    continue
                if jname not in self.joint_maps:
                    self.fail(el, "joint", f"no joint named {jname!r}")
                entries.append((el, self.joint_maps[jname]))
        slot0, s = {}, 0
        for name, (joint, _) in joints.items():
            slot0[name] = s
            s += joint.dof
        by_joint: dict = {}
        for el, jm in entries:
            if (jm is not None and jm.joint is None and jm.type == "slide" and el.tag == "motor"
                    and self.get(el, "joint") not in self.slide_motors):
                self.slide_motors[self.get(el, "joint")] = el     # applied by the env (RootSlide)
                self.approx(el, "joint", "the engine applies no force along a root slide (envs.mjcf_envs "
                            "applies this actuator: MjcfImport.root_slides)")
            elif jm is not None and jm.joint is None:
                self.approx(el, "joint", f"actuators on a root's {jm.type} axes are not supported "
                            "(dropped)")
            elif jm is not None:
                by_joint.setdefault(jm.joint, []).append((el, jm))
        specs, maps_of = [], {}
        for jname, items in by_joint.items():
            joint, group = joints[jname]
            tags = {el.tag for el, _ in items}
            if len(tags) > 1:
                self.approx(items[1][0], None, "one joint's DoFs need one actuator type "
                            f"({tags}); the first one's is used")
            tag = items[0][0].tag
            gears = [self.floats(el, "gear", None, [1.0], at_least=1)[0] * jm.sign for el, jm in items]
            kps = [self.number(el, "kp", 1.0) for el, _ in items]
            for el, _ in items:
                if self.boolean(el, "forcelimited", "auto") == "true" or (
                        self.get(el, "forcerange") is not None and self.boolean(el, "forcelimited", "auto") == "auto"):
                    self.approx(el, "forcerange", "actuator force limits are not supported (dropped)")
                if self.number(el, "kv", 0.0):
                    self.approx(el, "kv", "position servo damping is not supported (dropped)")
            seen = set()
            for el, jm in items:
                if jm.dof in seen:
                    self.approx(el, "joint", "a second actuator on one DoF is not supported (dropped)")
                seen.add(jm.dof)
            if tag == "motor":
                gear = max(abs(g) for g in gears) or 1.0
                specs.append(Actuator(name=jname, joint=jname, type="torque", strength=1.0, gear=gear))
                for (el, jm), g in zip(items, gears):
                    maps_of[id(el)] = (slot0[jname] + jm.dof, g / gear, 0.0)
            else:
                if len(set(kps)) > 1 or len({abs(g) for g in gears}) > 1:
                    self.approx(items[0][0], "kp", "one joint's position servos need one kp and gear "
                                "(the first one's are used)")
                g0, kp = abs(gears[0]), kps[0]
                specs.append(Actuator(name=jname, joint=jname, type="angle", strength=kp, gear=g0 * g0))
                for el, jm in items:
                    lo, hi = (math.radians(v) for v in joint.limits[jm.dof])
                    # action = 2 (ctrl / g - lo) / (hi - lo) - 1, with ctrl / g in radians
                    # (engine angle = sign (q - ref), ctrl / g the target q in radians)
                    scale = 2 * jm.sign / (g0 * (hi - lo))
                    offset = -2 * (lo + jm.sign * jm.ref) / (hi - lo) - 1
                    maps_of[id(el)] = (slot0[jname] + jm.dof, scale, offset)
        act_maps = []
        self.actuator_els = [el for el, _ in entries]
        for k, (el, _) in enumerate(entries):
            slot, scale, offset = maps_of.get(id(el), (None, 0.0, 0.0))
            limited = self.boolean(el, "ctrllimited", "auto")
            has = self.get(el, "ctrlrange") is not None
            rng = tuple(self.floats(el, "ctrlrange", 2)) if has and limited != "false" else None
            act_maps.append(ActuatorMap(el.get("name") or f"actuator{k}", slot, scale, offset, rng))
        return tuple(specs), act_maps

    def root_slides(self, act_maps) -> tuple:
        """`RootSlide`s of the root slides with an actuator or damping, and
        of every other slide of their bodies (their ranges)."""
        index = {id(el): k for k, el in enumerate(self.actuator_els)}
        bodies = {self.joint_maps[n].body for n, i in self.slide_info.items()
                  if i["damping"] or n in self.slide_motors}
        h = self.timestep / self.substeps
        out = []
        for name, i in self.slide_info.items():
            jm = self.joint_maps[name]
            if jm.body not in bodies:
                continue
            mass = next(g.mass for g in self.groups if g.name == jm.body)
            k = (JOINT_OMEGA_H / h) ** 2 * mass / 2
            motor = self.slide_motors.get(name)
            gear = self.floats(motor, "gear", None, [1.0], at_least=1)[0] if motor is not None else 0.0
            out.append(RootSlide(name, jm.body, jm.dof, jm.sign, jm.ref, i["damping"], i["range"], k,
                                 min(2 * math.sqrt(k * mass), LIMIT_DAMPING_H * mass / h),
                                 None if motor is None else index[id(motor)], gear))
        return tuple(out)

    # -- collisions ---------------------------------------------------------------------

    def collisions(self, contact_els):
        group_of = {}
        for g in self.groups:
            for geom in g.geoms:
                group_of[geom.index] = g
        excluded = set()
        for block in contact_els:
            for el in block:
                if el.tag != "exclude":
                    self.approx(el, None, f"<contact><{el.tag}> is not supported (dropped)")
                    continue
                pair = []
                for attr in ("body1", "body2"):
                    name = el.get(attr)
                    if name not in self.mjcf_bodies:
                        self.fail(el, attr, f"no body named {name!r}")
                    pair.append(self.mjcf_bodies[name].name)
                excluded.add(frozenset(pair))
        jointed = {frozenset((g.name, g.parent.name)) for g in self.groups if g.joint is not None}
        allowed: dict = {}     # body pair -> list of (geom, geom)
        for a, ga in enumerate(self.all_geoms):
            for gb in self.all_geoms[a + 1:]:
                A, B = group_of[ga.index], group_of[gb.index]
                if A is B or A.kind == "world" and B.kind == "world":
                    continue
                if not (ga.contype & gb.conaffinity or gb.contype & ga.conaffinity):
                    continue
                pair = frozenset((A.name, B.name))
                if pair in excluded:
                    continue
                if pair in jointed:
                    if self.world.name in pair:
                        self.approx(gb.el, "contype", f"geoms {ga.el.get('name')!r} and "
                                    f"{gb.el.get('name')!r} collide in MuJoCo, but a body never "
                                    f"collides with its joint's parent here (dropped)")
                    continue
                allowed.setdefault(pair, []).append((ga, gb))
        colliders, include, frictions = {}, [], []
        for pair, geom_pairs in allowed.items():
            kinds_ok = True
            for ga, gb in geom_pairs:
                ka, kb = (_collider_kind(g.kind) for g in (ga, gb))
                if (ka, kb) not in PAIR_KINDS and (kb, ka) not in PAIR_KINDS:
                    self.approx(gb.el, "type", f"{ka}-{kb} contacts (with {self.where(ga.el)}) "
                                "have no contact model (the body pair is dropped)")
                    kinds_ok = False
            if not kinds_ok:
                continue
            include.append(tuple(sorted(pair)))
            for ga, gb in geom_pairs:
                colliders.setdefault(ga, None)
                colliders.setdefault(gb, None)
                frictions.append(max(ga.friction, gb.friction))
        # the engine pairs all colliders of an included body pair: MuJoCo must agree
        for pair in include:
            members = [g for g in colliders if group_of[g.index].name in pair]
            for ga in members:
                for gb in members:
                    if ga.index < gb.index and group_of[ga.index] is not group_of[gb.index]:
                        if (ga, gb) not in allowed[frozenset(pair)]:
                            self.approx(gb.el, "contype", f"collides with {self.where(ga.el)} here "
                                        "but not in MuJoCo (the engine filters by body pair)")
        friction = 1.0
        if frictions:
            friction = float(np.mean(frictions))
            if max(frictions) - min(frictions) > 1e-12:
                self.approx(self.root, "friction", f"contact pairs differ in friction "
                            f"({sorted(set(frictions))}); the engine has one (their mean, "
                            f"{friction:.4g})")
        return tuple(sorted(include)), friction, colliders

    # -- bodies ---------------------------------------------------------------------

    def planar_trees(self):
        """Give every body of a frozen-axes root's tree the root's frozen
        axes where all the tree's joints turn about the root's free rotation
        axes (hopper, walker2d, half_cheetah: the whole model is planar)."""
        for root in [g for g in self.groups if g.kind == "axes"]:
            members = [g for g in self.groups if g is not root and g is not self.world
                       and self.tree_root(g) is root]
            free_axes = [np.eye(3)[k] for k in range(3) if not root.frozen_rotation[k]]
            dof_axes = [g.joint["frame"][:, k] for g in members for k in range(len(g.joint["limits"]))]
            if all(any(abs(abs(a @ f) - 1) < 1e-9 for f in free_axes) for a in dof_axes):
                for g in members:
                    g.frozen_position, g.frozen_rotation = root.frozen_position, root.frozen_rotation

    def build_bodies(self, colliders) -> tuple:
        self.planar_trees()
        located = {}
        bodies = []
        for g in self.groups:
            cols = []
            for geom in g.geoms:
                if geom not in colliders:
                    continue
                located[geom] = (g.name, len(cols))
                cols.append(self.collider(geom, g.com))
            if g is self.world:
                if not cols and not any(j.parent is g for j in self.groups if j.joint):
                    continue
                bodies.append(Body(name="world", mass=1.0, inertia=(1.0, 1.0, 1.0), colliders=tuple(cols),
                                   frozen_position=(1, 1, 1), frozen_rotation=(1, 1, 1)))
                continue
            diag = np.diag(g.tensor).copy()
            off = np.abs(g.tensor - np.diag(diag)).max()
            if off > 1e-9 * max(diag.max(), 1e-300):
                self.approx(g.el, "quat", f"the principal axes of the inertia are rotated against the "
                            f"body axes (products of inertia up to {off:.3g} kg m^2 dropped)")
            if diag.min() <= 0:
                self.fail(g.el, "inertia", f"a non-positive moment of inertia {diag.tolist()}")
            position = tuple(float(x) for x in g.com)
            collides = any(geom in colliders for t in self.groups if t is not self.world
                           and self.tree_root(t) is g for geom in t.geoms)
            if self.tree_root(g) is g and g.kind in ("free", "axes") and collides:   # default_qp lifts it
                position = position[:2] + (self.lowest_point(g),)
            bodies.append(Body(name=g.name, mass=float(g.mass), inertia=tuple(float(x) for x in diag),
                               colliders=tuple(cols), frozen_position=tuple(g.frozen_position),
                               frozen_rotation=tuple(g.frozen_rotation), position=position))
        colliders.clear()
        colliders.update(located)
        return tuple(bodies)

    def tree_root(self, g):
        while g.parent is not None and g.parent is not self.world:
            g = g.parent
        return g

    def lowest_point(self, root) -> float:
        """The lowest collider point of `root`'s tree at qpos0 (what
        `default_qp` places at the root's `position` z)."""
        low = math.inf
        for g in self.groups:
            if g is self.world or self.tree_root(g) is not root:
                continue
            for geom in g.geoms:
                if geom.kind == "plane" or geom.el is None:
                    continue
                r = geom.size[0]
                if geom.kind == "box":
                    extent = float(np.abs(geom.rot[2]) @ np.array(geom.size[:3]))
                elif geom.kind == "sphere":
                    extent = r
                else:
                    extent = r + abs(geom.rot[2, 2]) * max(_capsule_length(geom) / 2 - r, 0.0)
                low = min(low, geom.pos[2] - extent)
        return float(low)

    def collider(self, geom, com) -> Collider:
        kind = _collider_kind(geom.kind)
        pos = tuple(float(x) for x in geom.pos - com)
        rot = _euler_deg(geom.rot)
        if kind == "sphere":
            return Collider("sphere", radius=geom.size[0], position=pos, rotation=rot)
        if kind == "box":
            return Collider("box", halfsize=tuple(geom.size[:3]), position=pos, rotation=rot)
        if kind == "plane":
            return Collider("plane", position=pos, rotation=rot)
        return Collider("capsule", radius=geom.size[0], length=_capsule_length(geom), position=pos,
                        rotation=rot)


def _collider_kind(kind: str) -> str:
    return "capsule" if kind == "cylinder" else kind


def _capsule_length(geom) -> float:
    """Total length of the engine capsule: a capsule's 2 (h + r); a
    cylinder's 2 h (at least 2 r)."""
    r, h = geom.size[0], geom.size[1]
    return 2 * (h + r) if geom.kind == "capsule" else max(2 * h, 2 * r)
