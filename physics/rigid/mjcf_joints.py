"""MJCF import, part 3: joints (a body's hinges as one engine joint, free
and frozen-axes roots, limits, damping, armature, the joint springs) and
actuators (`JointReader`, a mixin of `mjcf._Reader`), and the maps from
MJCF joints and actuators to the engine's (`JointMap`, `ActuatorMap`,
`RootSlide`). See `mjcf.py`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from gambol.physics.rigid.mjcf_bodies import _Group
from gambol.physics.rigid.mjcf_xml import ACTUATOR_TAGS, _euler_deg, _perpendicular
from gambol.physics.rigid.spec import Actuator, Joint

SUBSTEPS = 10
JOINT_OMEGA_H = 0.3
LIMIT_DAMPING_H = 0.5


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

class JointReader:
    """Joints and actuators."""

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
                    damping=self.nonnegative(j, "damping", 0.0), stiffness=self.nonnegative(j, "stiffness", 0.0),
                    armature=self.nonnegative(j, "armature", 0.0), ref=self.number(j, "ref", 0.0),
                    frictionloss=self.nonnegative(j, "frictionloss", 0.0))

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
