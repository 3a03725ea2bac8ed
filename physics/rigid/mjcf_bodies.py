"""MJCF import, part 2: the body tree (bodies, inertials, geoms), mass
properties by MuJoCo's rules and the engine's bodies and colliders
(`BodyReader`, a mixin of `mjcf._Reader`). See `mjcf.py`.
"""

from __future__ import annotations

import dataclasses
import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass

import numpy as np

from gambol.physics.rigid.mjcf_xml import RENDER_ONLY, _euler_deg, _z_to
from gambol.physics.rigid.spec import Body, Collider

DEFAULT_DENSITY = 1000.0


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

class BodyReader:
    """The body tree, mass properties, bodies and colliders."""

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
