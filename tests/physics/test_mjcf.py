"""MJCF import checked against MuJoCo's own compiler (the `mujoco` package, a
test-only oracle): masses, inertias, centres of mass, collider poses, joint
axes, anchors and ranges and actuator gears of every gymnasium XML that
loads; bad input raises a SpecError naming element, attribute and line."""

import math
import pathlib
import re
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gymnasium
from gambol.physics import rigid
from gambol.physics.rigid.mjcf import MjcfWarning, import_mjcf
from gambol.physics.rigid.spec import SpecError

ASSETS = pathlib.Path(gymnasium.__file__).parent / "envs" / "mujoco" / "assets"
FILES = sorted(p.name for p in ASSETS.glob("*.xml"))
# what strict=True rejects, and the element/attribute it names
STRICT_ERRORS = {
    "ant.xml": "joint 'hip_1' at line 28, attribute 'armature'",
    "half_cheetah.xml": "joint 'bthigh' at line 63, attribute 'stiffness'",
    "hopper.xml": "joint 'thigh_joint' at line 27, attribute 'armature'",
    "humanoid.xml": "tendon at line 91",
    "humanoidstandup.xml": "tendon at line 91",
    "inverted_double_pendulum.xml": "joint 'slider' at line 31, attribute 'damping'",
    "inverted_pendulum.xml": "joint 'slider' at line 15, attribute 'damping'",
    "point.xml": "motor at line 28, attribute 'joint'",
    "pusher.xml": "joint 'obj_slidey' at line 71, attribute 'damping'",
    "pusher_v5.xml": "joint 'obj_slidey' at line 77, attribute 'damping'",
    "reacher.xml": "geom 'root' at line 16, attribute 'type'",
    "swimmer.xml": "option at line 3, attribute 'density'",
    "walker2d.xml": "joint 'thigh_joint' at line 24, attribute 'armature'",
    "walker2d_v5.xml": "joint 'thigh_joint' at line 24, attribute 'armature'",
}

# A synthetic model that exercises what the gymnasium files do not: radians,
# eulerseq, axisangle/xyaxes/zaxis/euler, nested default classes and
# childclass, <inertial> with fullinertia, boxes, a 3-hinge joint with a
# left-handed third axis, a ball joint, position actuators, contact excludes.
SYNTHETIC = """<mujoco model="synthetic">
  <compiler angle="radian" eulerseq="zyx"/>
  <option timestep="0.005" gravity="0 0 -9.7"/>
  <default>
    <geom density="500"/>
    <default class="light">
      <geom density="100" contype="2" conaffinity="2"/>
      <default class="lighter"><geom density="50"/></default>
    </default>
  </default>
  <worldbody>
    <geom name="floor" type="plane" size="5 5 1"/>
    <geom name="wall" type="box" pos="3 0 1" size="0.1 2 1"/>
    <body name="base" pos="0.1 0.2 1.0" euler="0.3 0.2 0.1">
      <freejoint name="root"/>
      <geom type="box" size="0.2 0.1 0.05"/>
      <body name="arm" pos="0.3 0 0" axisangle="0 0 1 0.5" childclass="light">
        <joint name="ax" type="hinge" axis="1 0 0" range="-1 1"/>
        <joint name="ay" type="hinge" axis="0 1 0" range="-0.5 0.7"/>
        <joint name="az" type="hinge" axis="0 0 -1" range="-0.2 0.4"/>
        <geom type="capsule" fromto="0 0 0 0.4 0 0" size="0.04"/>
        <body name="hand" pos="0.4 0 0" xyaxes="0 1 0 -1 0 0">
          <joint name="wrist" type="hinge" axis="0 0 1" range="-0.8 0.8" damping="0.3"/>
          <geom class="lighter" type="sphere" size="0.06" pos="0.05 0 0"/>
          <body name="tip" pos="0.1 0 0" zaxis="1 0 1"><geom type="box" size="0.02 0.03 0.04"/></body>
        </body>
      </body>
      <body name="knob" pos="-0.3 0 0">
        <joint name="ball" type="ball"/>
        <inertial pos="0 0 0.05" mass="0.2" fullinertia="0.01 0.01 0.01 0 0 0"/>
        <geom type="sphere" size="0.05" pos="0 0 0.05"/>
      </body>
    </body>
  </worldbody>
  <contact><exclude body1="base" body2="hand"/></contact>
  <actuator>
    <position joint="wrist" kp="20" ctrlrange="-0.8 0.8"/>
    <motor joint="ay" gear="30"/>
    <motor joint="ax" gear="10"/>
    <motor joint="az" gear="20"/>
  </actuator>
</mujoco>"""


def _load_both(xml_path=None, text=None):
    mujoco = pytest.importorskip("mujoco")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = import_mjcf(xml_path or text, strict=False)
    model = mujoco.MjModel.from_xml_path(str(xml_path)) if xml_path else mujoco.MjModel.from_xml_string(text)
    data = mujoco.MjData(model)
    mujoco.mj_forward(model, data)
    return result, model, data


@pytest.fixture(scope="module")
def loaded():
    """(import result, MjModel, MjData at qpos0) per gymnasium file and the synthetic model."""
    out = {name: _load_both(ASSETS / name) for name in FILES}
    out["synthetic"] = _load_both(text=SYNTHETIC)
    return out


def _rot64(euler_deg):
    """x-y'-z'' Euler angles (degrees) -> rotation matrix, in float64."""
    a, b, c = np.radians(euler_deg)
    rx = np.array([[1, 0, 0], [0, math.cos(a), -math.sin(a)], [0, math.sin(a), math.cos(a)]])
    ry = np.array([[math.cos(b), 0, math.sin(b)], [0, 1, 0], [-math.sin(b), 0, math.cos(b)]])
    rz = np.array([[math.cos(c), -math.sin(c), 0], [math.sin(c), math.cos(c), 0], [0, 0, 1]])
    return rx @ ry @ rz


def _mujoco_groups(result, model, data):
    """Per spec body: MuJoCo's mass, centre of mass [3] and inertia tensor
    [3, 3] (world axes) of the MJCF bodies welded into it, plus the armature
    the import adds on both ends of each jointed hinge (a thin disc: A about
    the axis, A/2 across it)."""
    names = [model.body(i).name or f"body{i}" for i in range(model.nbody)]
    groups = {}
    for i in range(1, model.nbody):
        g = groups.setdefault(result.bodies[names[i]], [])
        g.append(i)
    out = {}
    for name, ids in groups.items():
        m = sum(model.body_mass[i] for i in ids)
        com = sum(model.body_mass[i] * data.xipos[i] for i in ids) / m
        tensor = np.zeros((3, 3))
        for i in ids:
            r = data.ximat[i].reshape(3, 3)
            d = data.xipos[i] - com
            tensor += r @ np.diag(model.body_inertia[i]) @ r.T + model.body_mass[i] * (d @ d * np.eye(3) - np.outer(d, d))
        out[name] = [m, com, tensor]
    spec_joints = {j.name: j for j in result.spec.joints}
    for j in range(model.njnt):
        jm = result.joints[model.joint(j).name]
        if jm.joint is None or model.jnt_type[j] != 3:          # hinge joints inside the tree
            continue
        axis = data.xaxis[j]
        arm = model.dof_armature[model.jnt_dofadr[j]]
        for body in (spec_joints[jm.joint].child, spec_joints[jm.joint].parent):
            if body in out:
                out[body][2] = out[body][2] + 0.5 * arm * (np.eye(3) + np.outer(axis, axis))
    return out


CASES = FILES + ["synthetic"]


@pytest.mark.parametrize("name", CASES)
def test_masses_inertias_and_centres_match_mujoco(loaded, name):
    result, model, data = loaded[name]
    groups = _mujoco_groups(result, model, data)
    bodies = {b.name: b for b in result.spec.bodies}
    for body, (mass, com, tensor) in groups.items():
        if body == "world":
            continue
        b = bodies[body]
        assert b.mass == pytest.approx(mass, rel=1e-5), body
        np.testing.assert_allclose(b.inertia, np.diag(tensor), rtol=1e-5, atol=1e-9 * np.trace(tensor))
        np.testing.assert_allclose(result.rest_position[body], com, atol=1e-9)
        offdiag = np.abs(tensor - np.diag(np.diag(tensor))).max()
        warned = any(f"line" in w and "products of inertia" in w and (b.name in w or "body at" in w)
                     for w in result.warnings)
        # no products of inertia were dropped without a warning: the diagonal is MuJoCo's principal moments
        if offdiag > 1e-9 * np.trace(tensor):
            assert warned, body
        else:
            np.testing.assert_allclose(sorted(b.inertia), sorted(np.linalg.eigvalsh(tensor)), rtol=1e-5)


@pytest.mark.parametrize("name", CASES)
def test_collider_poses_match_mujoco(loaded, name):
    result, model, data = loaded[name]
    bodies = {b.name: b for b in result.spec.bodies}
    if name not in ("inverted_pendulum.xml", "inverted_double_pendulum.xml", "reacher.xml", "swimmer.xml"):
        assert result.colliders                # those four collide nothing in MuJoCo either
    for geom, (body, k) in result.colliders.items():
        c = bodies[body].colliders[k]
        pos = np.add(result.rest_position[body], c.position)
        np.testing.assert_allclose(pos, data.geom_xpos[geom], atol=1e-9)
        rot, mj_rot = _rot64(c.rotation), data.geom_xmat[geom].reshape(3, 3)
        size = model.geom_size[geom]
        if c.type == "box":
            np.testing.assert_allclose(rot, mj_rot, atol=1e-9)
            np.testing.assert_allclose(c.halfsize, size, rtol=1e-12)
        elif c.type == "plane":
            np.testing.assert_allclose(rot[:, 2], mj_rot[:, 2], atol=1e-9)
        elif c.type == "capsule":             # the axis (MuJoCo's fromto points it to - from)
            assert abs(rot[:, 2] @ mj_rot[:, 2]) == pytest.approx(1.0, abs=1e-9)
        if c.type in ("sphere", "capsule"):
            assert c.radius == pytest.approx(size[0], rel=1e-12)
        if c.type == "capsule" and model.geom_type[geom] == 3:       # a true capsule
            assert c.length == pytest.approx(2 * (size[0] + size[1]), rel=1e-12)


@pytest.mark.parametrize("name", CASES)
def test_joints_and_actuators_match_mujoco(loaded, name):
    result, model, data = loaded[name]
    spec = result.spec
    joints = {j.name: j for j in spec.joints}
    assert spec.dt == pytest.approx(model.opt.timestep)
    np.testing.assert_allclose(spec.gravity, model.opt.gravity)
    for j in range(model.njnt):
        jm = result.joints[model.joint(j).name]
        axis, anchor = data.xaxis[j], data.xanchor[j]
        if jm.joint is None:
            if jm.type in ("slide", "hinge"):         # a root's freed world axis
                body = next(b for b in spec.bodies if b.name == jm.body)
                frozen = body.frozen_position if jm.type == "slide" else body.frozen_rotation
                assert frozen[jm.dof] == 0 and abs(axis[jm.dof]) == pytest.approx(1.0)
            continue
        sj = joints[jm.joint]
        frame = _rot64(sj.rotation)
        if jm.type == "hinge":
            np.testing.assert_allclose(jm.sign * frame[:, jm.dof], axis, atol=1e-9)
        np.testing.assert_allclose(np.add(result.rest_position[sj.parent], sj.parent_offset), anchor, atol=1e-9)
        np.testing.assert_allclose(np.add(result.rest_position[sj.child], sj.child_offset), anchor, atol=1e-9)
        if model.jnt_limited[j] and jm.type == "hinge":
            lo, hi = np.degrees(jm.sign * (model.jnt_range[j] - model.qpos0[model.jnt_qposadr[j]]))
            np.testing.assert_allclose(sj.limits[jm.dof], sorted((lo, hi)), atol=1e-9)
    # every actuator: the torque per unit ctrl (motor) or the servo gain (position)
    slots = {}
    for sj in spec.joints:
        for k in range(sj.dof):
            slots[len(slots)] = (sj, k)
    acts = {a.joint: a for a in spec.actuators}
    for i, am in enumerate(result.actuators):
        if am.slot is None:
            assert any(f"line" in w and "actuator" in w for w in result.warnings)
            continue
        sj, k = slots[am.slot]
        jm = result.joints[model.joint(model.actuator_trnid[i, 0]).name]
        assert (jm.joint, jm.dof) == (sj.name, k)
        a = acts[sj.name]
        gear = model.actuator_gear[i, 0]
        if a.type == "torque":
            assert a.strength * a.gear * am.scale * jm.sign == pytest.approx(gear, rel=1e-6)
        else:
            kp = model.actuator_gainprm[i, 0]
            assert a.strength * a.gear == pytest.approx(kp * gear * gear, rel=1e-6)
        if model.actuator_ctrllimited[i]:
            np.testing.assert_allclose(am.ctrlrange, model.actuator_ctrlrange[i])


@pytest.mark.parametrize("name", FILES)
def test_strict_names_element_attribute_and_line(name):
    with pytest.raises(SpecError, match=re.escape(STRICT_ERRORS[name])):
        import_mjcf(ASSETS / name, strict=True)


def test_non_strict_lists_every_approximation():
    with pytest.warns(MjcfWarning, match=r"tendon at line 91: tendons are not supported"):
        spec = rigid.load_mjcf(ASSETS / "humanoid.xml", strict=False)
    assert spec.action_size == 17
    result = import_mjcf(ASSETS / "hopper.xml", strict=False)
    assert all(re.search(r"at line \d+", w) for w in result.warnings)
    assert any("armature" in w for w in result.warnings)
    assert any("integrator" in n for n in result.notes)
    body = {b.name: b for b in result.spec.bodies}
    assert body["torso"].frozen_position == (0, 1, 0) and body["torso"].frozen_rotation == (1, 0, 1)


def _xml(body, extra=""):
    return f"""<mujoco>
  <worldbody>
    <geom name="floor" type="plane" size="1 1 1"/>
    {body}
  </worldbody>
  {extra}
</mujoco>"""


LEG = """<body name="leg" pos="0 0 1"><freejoint/><geom type="sphere" size="0.1"/>
      <body name="shin" pos="0 0 -0.3"><joint name="knee" axis="0 1 0" range="-30 30"/>
        <geom type="capsule" size="0.05 0.1"/></body></body>"""

BAD = [
    ("<mujoco><worldbody><body></worldbody></mujoco>", r"malformed XML at line 1"),
    (_xml(LEG, "<foo/>"), r"foo at line 8: <foo> is not supported"),
    (_xml(LEG.replace('type="sphere" size="0.1"', 'type="mesh" mesh="m"')), r"geom at line 4, attribute 'type': mesh geoms"),
    (_xml(LEG.replace('<geom type="capsule" size="0.05 0.1"/>', '')), r"body 'shin' at line 5, attribute 'mass': a moving body with zero mass"),
    (_xml(LEG, "<actuator><motor joint='elbow'/></actuator>"), r"motor at line 8, attribute 'joint': no joint named 'elbow'"),
    (_xml(LEG, "<tendon><fixed name='t'><joint joint='knee' coef='1'/></fixed></tendon>"), r"tendon at line 8: tendons are not supported"),
    (_xml(LEG).replace("<mujoco>", "<mujoco><compiler coordinate='global'/>"), r"compiler at line 1, attribute 'coordinate'"),
    (_xml(LEG.replace('<joint name="knee" axis="0 1 0" range="-30 30"/>',
                      '<joint name="k1" axis="0 1 0"/><joint name="k2" axis="1 1 0"/>')),
     r"joint 'k2' at line 5, attribute 'axis': the hinges of one body must be mutually orthogonal"),
    (_xml(LEG.replace('<joint name="knee" axis="0 1 0" range="-30 30"/>', '<joint name="s" type="slide"/>')),
     r"joint 's' at line 5, attribute 'type': slide joints are supported only on children of <worldbody>"),
    (_xml(LEG.replace('<joint name="knee" axis="0 1 0" range="-30 30"/>', '<joint name="w" type="weld"/>')),
     r"joint 'w' at line 5, attribute 'type': unknown joint type 'weld'"),
    (_xml(LEG.replace('size="0.1"', 'size="x"')), r"geom at line 4, attribute 'size': expected numbers, got 'x'"),
    (_xml(LEG.replace('range="-30 30"', 'range="-30 30" frictionloss="1"')), r"joint 'knee' at line 5, attribute 'frictionloss'"),
    (_xml(LEG.replace('<freejoint/>', '<freejoint/><site name="s"/>').replace('size="0.1"', 'size="0.1" foo="1"')),
     r"geom at line 4, attribute 'foo': attribute not supported"),
    (_xml(LEG.replace('type="capsule"', 'type="cylinder"')), r"geom at line 6, attribute 'type': cylinders"),
]


@pytest.mark.parametrize("xml,message", BAD)
def test_bad_input_names_element_attribute_and_line(xml, message):
    with pytest.raises(SpecError, match=message):
        import_mjcf(xml, strict=True)


def test_leg_loads_strict_and_cylinder_approximates():
    spec = rigid.load_mjcf(_xml(LEG))
    assert [b.name for b in spec.bodies] == ["world", "leg", "shin"]
    with pytest.warns(MjcfWarning, match="cylinders are not supported"):
        spec = rigid.load_mjcf(_xml(LEG.replace('type="capsule"', 'type="cylinder"')), strict=False)
    assert spec.bodies[2].colliders[0].type == "capsule"


# (walker2d.xml differs from walker2d_v5.xml only in one foot's friction)
SOAK_FILES = ("ant.xml", "half_cheetah.xml", "hopper.xml", "walker2d_v5.xml", "humanoid.xml")


@pytest.fixture(scope="module")
def soaked():
    """Per file: (all finite, deepest plane penetration [m]) of 32 scenes x
    300 steps of `step_batch` from the rest pose, controls uniform over the
    whole `ctrlrange` (a fresh draw every step). Before armature became a disc
    the ant went non-finite in every scene, at a median step of 114."""
    batch, steps = 32, 300
    out = {}
    for name in SOAK_FILES:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", MjcfWarning)
            result = import_mjcf(ASSETS / name, strict=False)
        sys = rigid.build_system(result.spec)
        lo, hi = np.array([a.ctrlrange for a in result.actuators], np.float32).T
        qps = jax.tree.map(lambda x: jnp.broadcast_to(x, (batch,) + x.shape), rigid.default_qp(sys))
        depth = jax.vmap(lambda qp: rigid.diagnostics.plane_penetration(sys, qp))

        def body(carry, key, sys=sys, lo=lo, hi=hi, depth=depth, result=result):
            qp, deepest, finite = carry
            ctrl = jax.random.uniform(key, (batch, len(lo)), minval=lo, maxval=hi)
            qp = rigid.step_batch(sys, qp, result.action(ctrl))
            ok = jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(qp)]))
            return (qp, jnp.maximum(deepest, jnp.max(depth(qp))), finite & ok), None

        init = (qps, jnp.zeros(()), jnp.ones((), bool))
        keys = jax.random.split(jax.random.PRNGKey(0), steps)
        (_, deepest, finite), _ = jax.jit(lambda c, k, body=body: jax.lax.scan(body, c, k))(init, keys)
        out[name] = (bool(finite), float(deepest))
    return out


@pytest.mark.parametrize("name", SOAK_FILES)
def test_full_range_random_controls_stay_finite_and_above_the_floor(soaked, name):
    # the soak of issue 19 part 4, small: no NaN, nothing 5 cm into the floor
    finite, deepest = soaked[name]
    assert finite
    assert deepest < 0.05, f"{name}: a collider went {deepest:.3f} m into the floor"


def test_action_maps_controls_through_gear_and_ctrlrange():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MjcfWarning)
        result = import_mjcf(ASSETS / "humanoid.xml", strict=False)
    ctrl = np.full((2, len(result.actuators)), 0.3, np.float32)
    ctrl[1] = 5.0                                        # clipped to ctrlrange [-0.4, 0.4]
    action = result.action(ctrl)
    assert action.shape == (2, result.spec.action_size)
    for a in result.actuators:
        assert action[0, a.slot] == pytest.approx(a.scale * 0.3 + a.offset)
        assert action[1, a.slot] == pytest.approx(a.scale * a.ctrlrange[1] + a.offset)
