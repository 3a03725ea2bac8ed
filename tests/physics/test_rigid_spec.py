"""System specs: the TOML form equals the dataclasses, malformed specs name
their entry and field, default_qp gives a valid rest pose, System is a pytree."""

import dataclasses
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gambol.physics import rigid as R
from gambol.physics.rigid import diagnostics as D

ANT = pathlib.Path(__file__).parents[2] / "envs" / "assets" / "ant.toml"

TEXT = """
name = "arm"
dt = 0.02
substeps = 4
gravity = [0.0, 0.0, -9.8]
collide_exclude = [["base", "hand"]]

[[bodies]]
name = "base"
frozen_position = [1, 1, 1]
frozen_rotation = [1, 1, 1]
[[bodies.colliders]]
type = "plane"

[[bodies]]
name = "upper"
mass = 2.0
inertia = [0.1, 0.2, 0.3]
[[bodies.colliders]]
type = "capsule"
radius = 0.1
length = 1.0

[[bodies]]
name = "hand"
[[bodies.colliders]]
type = "sphere"
radius = 0.2
position = [0.0, 0.0, -0.1]

[[joints]]
name = "shoulder"
parent = "base"
child = "upper"
parent_offset = [0.0, 0.0, 1.5]
child_offset = [0.0, 0.0, 0.5]
limits = [[-45.0, 45.0], [-10.0, 80.0]]
angular_damping = 5.0

[[joints]]
name = "wrist"
parent = "upper"
child = "hand"
parent_offset = [0.0, 0.0, -0.5]
child_offset = [0.0, 0.0, 0.2]
rotation = [0.0, 0.0, 90.0]
limits = [[-30.0, 30.0], [-30.0, 30.0], [-90.0, 90.0]]

[[actuators]]
name = "shoulder"
joint = "shoulder"
strength = 100.0

[[actuators]]
name = "wrist"
joint = "wrist"
type = "angle"
strength = 20.0
gear = 2.0
"""

ARM = R.SystemSpec(
    "arm",
    bodies=(R.Body("base", frozen_position=(1, 1, 1), frozen_rotation=(1, 1, 1),
                   colliders=(R.Collider("plane"),)),
            R.Body("upper", mass=2.0, inertia=(0.1, 0.2, 0.3),
                   colliders=(R.Collider("capsule", radius=0.1, length=1.0),)),
            R.Body("hand", colliders=(R.Collider("sphere", radius=0.2, position=(0.0, 0.0, -0.1)),))),
    joints=(R.Joint("shoulder", "base", "upper", ((-45.0, 45.0), (-10.0, 80.0)),
                    parent_offset=(0.0, 0.0, 1.5), child_offset=(0.0, 0.0, 0.5), angular_damping=5.0),
            R.Joint("wrist", "upper", "hand", ((-30.0, 30.0), (-30.0, 30.0), (-90.0, 90.0)),
                    parent_offset=(0.0, 0.0, -0.5), child_offset=(0.0, 0.0, 0.2),
                    rotation=(0.0, 0.0, 90.0))),
    actuators=(R.Actuator("shoulder", "shoulder", strength=100.0),
               R.Actuator("wrist", "wrist", type="angle", strength=20.0, gear=2.0)),
    dt=0.02, substeps=4, gravity=(0.0, 0.0, -9.8), collide_exclude=(("base", "hand"),))


def test_toml_and_dataclasses_are_the_same_spec():
    assert R.load_spec(TEXT) == ARM
    a, b = R.load_system(TEXT), R.build_system(ARM)
    assert jax.tree.structure(a) == jax.tree.structure(b)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        np.testing.assert_array_equal(x, y)
    assert a.action_size == 5 and a.joint_names == ("shoulder", "wrist")
    # jointed pairs never collide, (base, hand) is excluded: nothing is left
    assert a.pairs == ()
    free = R.build_system(dataclasses.replace(ARM, collide_exclude=()))
    assert [(p.kind, p.a, p.b) for p in free.pairs] == [(("plane", "sphere"), (0,), (2,))]


def test_loads_a_file_path_and_the_shipped_ant():
    sys = R.load_system(ANT)
    assert sys.num_bodies == 10 and sys.action_size == 8 and sys.substeps == 10
    assert R.load_system(str(ANT)).spec == R.load_system(ANT.read_text()).spec
    with pytest.raises(FileNotFoundError, match="no spec file"):
        R.load_system("missing.toml")


def _replace_body(spec, i, **kw):
    bodies = list(spec.bodies)
    bodies[i] = dataclasses.replace(bodies[i], **kw)
    return dataclasses.replace(spec, bodies=tuple(bodies))


def _replace_joint(spec, i, **kw):
    joints = list(spec.joints)
    joints[i] = dataclasses.replace(joints[i], **kw)
    return dataclasses.replace(spec, joints=tuple(joints))


@pytest.mark.parametrize("spec, match", [
    (_replace_joint(ARM, 1, parent="elbow"), r"joints\[1\] \('wrist'\): field 'parent' expected a body name"),
    (_replace_body(ARM, 1, mass=-2.0), r"bodies\[1\] \('upper'\): field 'mass' expected a number > 0"),
    (_replace_body(ARM, 1, colliders=(R.Collider("capsule", radius=0.1, length=0.0),)),
     r"bodies\[1\] \('upper'\)\.colliders\[0\]: field 'length' expected a number > 0"),
    (_replace_body(ARM, 1, colliders=(R.Collider("capsule", radius=0.3, length=0.4),)),
     r"field 'length' expected a total length >= 2 \* radius"),
    (_replace_body(ARM, 2, name="upper"), r"bodies\[2\] \('upper'\): field 'name' expected a unique body name"),
    (_replace_joint(ARM, 1, name="shoulder"), r"field 'name' expected a unique joint name"),
    (_replace_joint(ARM, 0, limits=((10.0, -10.0),)), r"field 'limits\[0\]' expected min <= max"),
    (_replace_joint(ARM, 0, limits=()), r"field 'limits' expected 1 to 3"),
    (_replace_body(ARM, 1, colliders=(R.Collider("cylinder"),)), r"field 'type' expected one of"),
    (_replace_body(ARM, 1, colliders=(R.Collider("plane"),)), r"planes only on fully frozen bodies"),
    (_replace_body(ARM, 1, inertia=(1.0, 0.0, 1.0)), r"field 'inertia' expected three positive"),
    (dataclasses.replace(ARM, actuators=(R.Actuator("a", "knee"),)), r"field 'joint' expected a joint name"),
    (dataclasses.replace(ARM, dt=0.0), r"system 'arm': field 'dt' expected a number > 0"),
    (_replace_joint(ARM, 1, child="upper"), r"field 'child' expected a body other than the parent"),
])
def test_malformed_specs_name_the_entry_and_the_field(spec, match):
    with pytest.raises(R.SpecError, match=match):
        R.build_system(spec)


def test_malformed_text_names_the_entry_and_the_field():
    with pytest.raises(R.SpecError, match=r"joints\[0\] \('shoulder'\): missing required field\(s\) \['child'\]"):
        R.load_system(TEXT.replace('child = "upper"\n', ""))
    with pytest.raises(R.SpecError, match=r"bodies\[1\]: unknown field\(s\) \['mas'\]"):
        R.load_system(TEXT.replace("mass = 2.0", "mas = 2.0"))
    with pytest.raises(R.SpecError, match="not valid TOML"):
        R.load_system("name = ")
    boxes = R.SystemSpec("boxes", (R.Body("a", colliders=(R.Collider("box", halfsize=(1, 1, 1)),)),
                                   R.Body("b", colliders=(R.Collider("box", halfsize=(1, 1, 1)),))))
    with pytest.raises(R.SpecError, match="bodies 'a' and 'b' would collide as box-box"):
        R.build_system(boxes)
    assert R.build_system(dataclasses.replace(boxes, collide_exclude=(("a", "b"),))).pairs == ()


def test_default_qp_joins_every_anchor_and_rests_on_the_floor():
    sys = R.load_system(ANT)
    qp = R.default_qp(sys)
    np.testing.assert_allclose(D.anchor_error(sys, qp), 0.0, atol=1e-6)
    low = R.qp.lowest_points(sys, qp.pos, qp.rot)
    assert float(jnp.min(low)) == pytest.approx(0.0, abs=1e-6)
    # every joint at its rest angle: zero clipped into its limits (the ant's knees: +-30 degrees)
    limits = np.concatenate([np.asarray(g.limits).reshape(-1, 2) for g in sys.joints])
    rest = np.clip(0.0, limits[:, 0], limits[:, 1])
    assert np.count_nonzero(rest) == 4
    np.testing.assert_allclose(R.joint_angles(sys, qp)[0], rest, atol=1e-5)
    np.testing.assert_allclose(jnp.linalg.norm(qp.rot, axis=-1), 1.0, atol=1e-6)
    # so no limit spring launches it: with zero action it settles, torso well below 1
    rest_z = jax.jit(lambda q: jax.lax.scan(lambda q, _: (R.step(sys, q, jnp.zeros(8)),) * 2, q, None, 40)[1].pos[:, 0, 2])(qp)
    assert float(jnp.max(rest_z)) < float(qp.pos[0, 2]) + 0.02
    arm = R.build_system(ARM)
    qp = R.default_qp(arm)               # a tree holding a frozen body is not lifted
    np.testing.assert_allclose(qp.pos[1], [0.0, 0.0, 1.0], atol=1e-6)
    np.testing.assert_allclose(D.anchor_error(arm, qp), 0.0, atol=1e-6)


def test_step_checks_the_action_and_vmaps_over_scenes_and_parameters():
    sys = R.build_system(ARM)
    qp = R.default_qp(sys)
    with pytest.raises(ValueError, match=r"action expected shape \(5,\) for system 'arm', got \(4,\)"):
        R.step(sys, qp, jnp.zeros(4))
    # a batch of systems differing in a traced parameter (gravity) and in state
    gravities = jnp.array([[0.0, 0.0, -9.8], [0.0, 0.0, -1.0], [0.0, 0.0, 0.0]])
    batch = jax.vmap(lambda g: sys.replace(gravity=g))(gravities)
    qps = jax.tree.map(lambda x: jnp.broadcast_to(x, (3,) + x.shape), qp)
    out = jax.jit(jax.vmap(R.step, in_axes=(0, 0, None)))(batch, qps, jnp.zeros(5))
    for i in range(3):
        single = R.step(sys.replace(gravity=gravities[i]), qp, jnp.zeros(5))
        np.testing.assert_allclose(out.pos[i], single.pos, atol=1e-5)
    assert float(out.pos[0, 2, 2]) < float(out.pos[1, 2, 2]) < float(out.pos[2, 2, 2]) + 1e-6
