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

The reader is split by what it reads: `mjcf_xml.py` (XML, attributes and
defaults, orientations, compiler, option), `mjcf_bodies.py` (the body tree,
mass properties, bodies and colliders), `mjcf_joints.py` (joints, actuators
and the maps to the engine's), `mjcf_contacts.py` (collision filtering).
"""

from __future__ import annotations

import dataclasses
import pathlib
import warnings as _warnings
from dataclasses import dataclass

import numpy as np

from gambol.physics.rigid.mjcf_bodies import DEFAULT_DENSITY, BodyReader, _Group
from gambol.physics.rigid.mjcf_contacts import ContactReader
from gambol.physics.rigid.mjcf_joints import (JOINT_OMEGA_H, LIMIT_DAMPING_H, SUBSTEPS, ActuatorMap, JointMap,
                                             JointReader, RootSlide)
from gambol.physics.rigid.mjcf_xml import RENDER_ONLY, UNSUPPORTED_ELEMENTS, MjcfWarning, XmlReader
from gambol.physics.rigid.spec import SpecError, SystemSpec, validate

__all__ = ["load_mjcf", "import_mjcf", "MjcfImport", "MjcfWarning", "JointMap", "ActuatorMap", "RootSlide",
           "SUBSTEPS", "JOINT_OMEGA_H", "LIMIT_DAMPING_H", "DEFAULT_DENSITY"]


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

class _Reader(XmlReader, BodyReader, JointReader, ContactReader):
    """One MJCF document read into an `MjcfImport` (`run`); the mixins read
    its parts (mjcf_xml.py, mjcf_bodies.py, mjcf_joints.py, mjcf_contacts.py)."""

    def __init__(self, text: str, strict: bool, substeps: int = SUBSTEPS):
        self.strict, self.substeps = strict, substeps
        self.warnings: list[str] = []
        self.notes: dict = {}
        self.lines: dict = {}
        self.root = self._parse(text)

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
            _fits_float32(spec)
        except SpecError as e:
            self.fail(self.root, None, f"the imported spec is invalid: {e}")
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


def _fits_float32(spec: SystemSpec):
    """Raise `SpecError` naming the first spec field the engine's float32 cannot hold."""
    limit, tiny = float(np.finfo(np.float32).max), float(np.finfo(np.float32).tiny)

    def walk(value, where):
        if dataclasses.is_dataclass(value):
            for f in dataclasses.fields(value):
                walk(getattr(value, f.name), f"{where}.{f.name}")
        elif isinstance(value, (tuple, list)):
            for k, v in enumerate(value):
                walk(v, f"{where}[{k}]")
        elif isinstance(value, float) and (abs(value) > limit or 0 < abs(value) < tiny):
            raise SpecError(f"field {where} = {value:g} does not fit the engine's float32")

    walk(spec, "spec")
