"""gymnasium's MuJoCo locomotion suite (v5 semantics) on gambol's spring engine,
built from gymnasium's own XML files (`gymnasium/envs/mujoco/assets/`) by
`rigid.import_mjcf(strict=False)`: `mjcf_ant`, `mjcf_halfcheetah`,
`mjcf_hopper`, `mjcf_walker2d`, `mjcf_humanoid` (version "5", in gymnasium
as `gambol/mjcf_hopper-v5` ...; the paper-era `ant` and `halfcheetah` are
other envs).

What follows gymnasium v5 (its docs and `*_v5.py` defaults):
- action: the XML's `ctrl`, one entry per `<motor>` in XML order, in its
  `ctrlrange` (clipped, as MuJoCo clamps it), mapped onto the engine's joints
  by `MjcfImport.action`;
- one env step is `frame_skip` MJCF timesteps (ant, halfcheetah 5 x 0.01 s;
  hopper, walker2d 4 x 0.002 s; humanoid 5 x 0.003 s): the engine steps dt = frame_skip x timestep
  with frame_skip x the import's substeps, the same substep length;
- observation: MuJoCo's generalized coordinates `qpos` (without the root's x,
  and y for the ant) then `qvel` (hopper and walker2d clip it to [-10, 10]),
  read off the engine's bodies (`generalized`; checked against MuJoCo's
  forward kinematics in tests/envs/test_mjcf_envs.py); the ant appends 78
  contact numbers, the humanoid cinert, cvel, qfrc_actuator and cfrc_ext
  stand-ins (below, and `HumanoidV5`);
- reward terms, each in `metrics`, summing to the reward: `reward_forward` =
  weight x (x of the root body's frame origin, after - before) / dt;
  `reward_ctrl` = -ctrl_cost_weight sum(ctrl^2); `reward_survive` =
  healthy_reward x healthy (hopper, walker2d, ant); `reward_contact` (ant);
- healthy and termination: hopper z = qpos[1] > 0.7, |qpos[2]| < 0.2 and
  every entry of (qpos, qvel)[2:] inside (-100, 100); walker2d 0.8 < z < 2,
  -1 < qpos[2] < 1; ant all finite and 0.2 <= qpos[2] <= 1; humanoid
  1 < qpos[2] < 2; the episode ends when unhealthy (halfcheetah never);
- reset: qpos0 + U(-s, s) on every qpos entry (the ant's quaternion too, then
  normalised) and qvel U(-s, s) (hopper, walker2d: s = 5e-3; humanoid 1e-2)
  or s N(0, 1) (ant, halfcheetah: s = 0.1).

Where the spring engine has no equal quantity:
- `cfrc_ext` (the ant's observation[27:105] and contact cost): MuJoCo's
  external contact wrench (torque, force) on each body 1..13. Here each
  jointed body's contact impulse of the step over dt: (I dω, m dv) / dt with
  dω, dv the step's contact velocity changes (`StepInfo`); bodies that MJCF
  welds into their parent (the ant's four `*_leg` bodies) read 0. Clipped to
  [-1, 1] as gymnasium does, and the contact cost is 5e-4 sum of its squares.
- The initial pose is the import's rest pose (`default_qp`: lowest collider
  at its MJCF height) with the noise on it (`place`): where qpos0 lies outside
  a joint's range (the ant's ankles at 0, range 30-70 degrees) the joint
  starts at the nearer limit, which MuJoCo would reach in its first steps.
- A root hinge's noise turns the tree about the root's frame origin (its
  hinge anchor in gymnasium's files); the engine's planar roots then turn
  about their centre of mass.
- Bodies MJCF welds into another (the ant's `*_leg`, the humanoid's feet)
  have no row of their own in the per-body stand-ins: they read 0, and the
  body they are welded into carries their mass.
- The humanoid's tendons (coupling abdomen_x to the hips) are dropped by
  the import.
- The physics is the spring engine's (see `rigid/mjcf.py` for what the
  import approximates: armature, joint springs, contact softness), so
  trajectories and returns are not MuJoCo's.

Measured against gymnasium's own envs (MuJoCo 3.3.7, gymnasium 1.4.0), 32
episodes each of uniform random controls over the ctrlrange, median length /
return, gambol vs MuJoCo (`benchmarks/mjcf_episodes.py`,
docs/mjcf_episodes_2026-12-08.jsonl): hopper 17 / 12.9 vs 19 / 11.6;
walker2d 18 / -1.1 vs 19.5 / -0.3; humanoid 19.5 / 91.7 vs 21 / 100.6;
halfcheetah 1000 / -227 vs 1000 / -285; ant 38 / -15.2 vs 66 / -26.4 (21.5
before the imported limits were damped; the engine's ant still ends mostly
by hopping over z = 1, where MuJoCo's peaks near 0.98); the classic envs in
`mjcf_classic.py`. Dropped from the rest pose with zero controls, the hopper
settles at z = 1.2097 against MuJoCo's 1.2064 (3 mm higher: MuJoCo's soft
contacts sink; `benchmarks/mjcf_checks.py`) and the walker2d near 1.197
against 1.208 (1 cm lower) after 60 steps. Soak (`benchmarks/rigid_soak.py`,
raw lines in docs/mjcf_soak_2026-12-07.jsonl): 128,000 env steps of each env
with resets, 0 non-finite, no collider deeper than 9 mm in the floor.
"""

from __future__ import annotations

import dataclasses
import functools
import pathlib
import warnings

import jax
import jax.numpy as jnp
import numpy as np

from gambol.envs.base import Box
from gambol.envs.rigid_env import RigidEnv
from gambol.physics.rigid import QP, build_system, default_qp, joint_angles, step_with_info
from gambol.physics.rigid.math import cross, inv_rotate, normalize, quat_mul, quat_to_matrix, rotate
from gambol.physics.rigid.mjcf import SUBSTEPS, MjcfWarning, import_mjcf


def gymnasium_xml(name: str) -> pathlib.Path:
    """The path of gymnasium's MuJoCo asset `name` (e.g. "hopper.xml")."""
    import gymnasium
    return pathlib.Path(gymnasium.__file__).parent / "envs" / "mujoco" / "assets" / name


@functools.lru_cache(maxsize=None)
def load_gymnasium_mjcf(name: str, substeps: int = SUBSTEPS):
    """`import_mjcf(strict=False)` of a gymnasium asset; its approximations are
    the ones `rigid/mjcf.py` documents (listed in `.warnings`)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MjcfWarning)
        return import_mjcf(gymnasium_xml(name), strict=False, substeps=substeps)


class MjcfEnv(RigidEnv):
    """A gymnasium v5 locomotion env on an imported XML. Subclasses set `xml`,
    `frame_skip`, `reset_noise_scale`, `gaussian_velocity_noise`, `skipped_qpos`
    (root coordinates left out of the observation), `qvel_clip` and the
    reward weights, and implement `healthy(qpos, qvel)` and `extra_obs`."""
    version = "5"
    xml = ""
    frame_skip = 1
    substeps = SUBSTEPS          # engine substeps per MJCF timestep
    reset_noise_scale = 0.0
    gaussian_velocity_noise = False
    skipped_qpos = 1
    qvel_clip: float | None = None
    forward_reward_weight = 1.0
    ctrl_cost_weight = 0.0
    healthy_reward = 1.0
    terminate_when_unhealthy = True
    reward_terms = ("reward_forward", "reward_ctrl")
    extra_metrics = ("x_position", "x_velocity")

    def __init__(self, system=None):
        self.mjcf = load_gymnasium_mjcf(self.xml, self.substeps)
        spec = self.mjcf.spec
        if system is None:
            system = build_system(dataclasses.replace(spec, dt=spec.dt * self.frame_skip,
                                                      substeps=spec.substeps * self.frame_skip))
        maps = list(self.mjcf.joints.values())
        if any(m.type == "ball" for m in maps):
            raise ValueError(f"{type(self).__name__}: {self.xml} has a ball joint; `generalized` "
                             f"and `place` handle hinges")
        self.root_body = next(m.body for m in maps if m.joint is None)
        self.torso_body = self.root_body
        self.nq = sum(7 if m.type == "free" else 1 for m in maps)
        self.nv = sum(6 if m.type == "free" else 1 for m in maps)
        self.observation_size_ = self.nq - self.skipped_qpos + self.nv + self.extra_obs_size()
        super().__init__(system)
        lo, hi = np.array([a.ctrlrange or (-1.0, 1.0) for a in self.mjcf.actuators]).T
        self.action_spec = Box((len(lo),), low=lo, high=hi)
        slot0 = np.cumsum([0] + [len(j.limits) for j in spec.joints])
        self._slot = {j.name: int(s) for j, s in zip(spec.joints, slot0)}
        self._substeps = spec.substeps * self.frame_skip

    @property
    def metadata(self) -> dict:
        return {"version": self.version, "asset": self.xml, "reward_terms": self.reward_terms,
                "frame_skip": self.frame_skip}

    def extra_obs_size(self) -> int:
        return 0

    def extra_obs(self, qp: QP, contact) -> list:
        return []

    def healthy(self, qpos, qvel):
        return jnp.ones((), bool)

    # -- generalized coordinates ---------------------------------------------------
    def origin(self, qp: QP, body: int | None = None):
        """(position [3], velocity [3]) of the MJCF body frame origin of the
        root (or of engine `body`): x_o = x + R r, v_o = v + ω × R r (r: the
        origin from the centre of mass at the initial pose)."""
        t = self.torso if body is None else body
        name = self.sys.body_names[t]
        offset = np.subtract(self.mjcf.rest_origin[name], self.mjcf.rest_position[name])
        arm = rotate(jnp.asarray(offset, qp.pos.dtype), qp.rot[t])
        return qp.pos[t] + arm, qp.vel[t] + cross(qp.ang[t], arm)

    def joint_axes(self, rot, g, j: int) -> list:
        """The world axes of the DoFs of joint j of group g (as the engine's
        joints.py): x of the parent's joint frame, the line of nodes y'
        (a universal joint: the child's y), z'' of the child's joint frame."""
        dtype = rot.dtype
        frame_p, frame_c = quat_mul(rot[g.parent[j]], g.frame[j]), quat_mul(rot[g.child[j]], g.frame[j])
        x = rotate(jnp.array([1.0, 0, 0], dtype), frame_p)
        if g.dof == 1:
            return [x]
        if g.dof == 2:
            return [x, rotate(jnp.array([0, 1.0, 0], dtype), frame_c)]
        z = rotate(jnp.array([0, 0, 1.0], dtype), frame_c)
        y = cross(z, x)
        return [x, y / jnp.linalg.norm(y), z]

    def rates(self, qp: QP, speeds):
        """Euler angle rates [action_size] from the engine's joint speeds
        s_k = a_k . ω (its projections on the DoF axes): ω = Σ q'_k a_k, and
        a_1 . a_3 = c is the axes' only product that is not 0, so
        q'_1 = (s_1 - c s_3) / (1 - c^2), q'_3 = (s_3 - c s_1) / (1 - c^2)."""
        for g in self.params.joints:
            if g.dof != 3:
                continue
            for j, slots in enumerate(g.action_slots):
                a = self.joint_axes(qp.rot, g, j)
                c = jnp.dot(a[0], a[2])
                det = jnp.maximum(1 - c * c, 1e-6)         # 0 only at gimbal lock, far past the limits
                s1, s3 = speeds[slots[0]], speeds[slots[2]]
                speeds = speeds.at[slots[0]].set((s1 - c * s3) / det)
                speeds = speeds.at[slots[2]].set((s3 - c * s1) / det)
        return speeds

    def generalized(self, qp: QP, angles, speeds):
        """MuJoCo's (qpos [nq], qvel [nv]) of one state; `angles`, `speeds`: the
        engine's joint angles and speeds in slot order (`StepInfo`). Free root:
        origin, quaternion; linear velocity (world), angular (body frame).
        Root slide: ref + sign (x_o - x_o0)_k; root hinge about world axis k:
        ref + sign 2 atan2(q_k, q_w); hinge: ref + sign angle (the joint's
        x-y'-z'' Euler angles are MuJoCo's hinges in turn), its rate `rates`."""
        speeds = self.rates(qp, speeds)
        qpos, qvel = [], []
        for m in self.mjcf.joints.values():
            t = self.sys.body_index(m.body)
            pos, vel = self.origin(qp, t)
            if m.type == "free":
                qpos += [pos, qp.rot[t]]
                qvel += [vel, inv_rotate(qp.ang[t], qp.rot[t])]
            elif m.joint is None and m.type == "slide":
                qpos.append(m.ref + m.sign * (pos[m.dof] - self.mjcf.rest_origin[m.body][m.dof]))
                qvel.append(m.sign * vel[m.dof])
            elif m.joint is None:
                qpos.append(m.ref + m.sign * 2 * jnp.arctan2(qp.rot[t, 1 + m.dof], qp.rot[t, 0]))
                qvel.append(m.sign * qp.ang[t, m.dof])
            else:
                slot = self._slot[m.joint] + m.dof
                qpos.append(m.ref + m.sign * angles[slot])
                qvel.append(m.sign * speeds[slot])
        flat = lambda xs: jnp.concatenate([jnp.reshape(x, -1) for x in xs])
        return flat(qpos), flat(qvel)

    def place(self, dq, dv) -> QP:
        """The rest pose moved by generalized noise dq [nq], dv [nv] (MJCF
        order): joint angles through `default_qp` (the root's frame origin
        kept at rest), then the root's translation and rotation applied to
        the whole tree, then the velocity
        field: the root's (v, ω) everywhere (v_i += ω × (x_i - x_o)) plus, for
        each joint, ω_j = Σ q'_k a_k (`joint_axes`) on every body below it
        (v_i += ω_j × (x_i - anchor))."""
        sys, maps = self.params, list(self.mjcf.joints.values())
        dtype = sys.mass.dtype
        rest = joint_angles(sys, self.rest_qp())[0]
        angles, qi, vi = rest, 0, 0
        root_dx, root_rot, root_v, root_w, hinge_dv = jnp.zeros(3, dtype), None, jnp.zeros(3, dtype), jnp.zeros(3, dtype), {}
        for m in maps:
            if m.type == "free":
                root_dx, root_rot = dq[qi:qi + 3], normalize(jnp.array([1.0, 0, 0, 0], dtype) + dq[qi + 3:qi + 7])
                root_v, root_w = dv[vi:vi + 3], dv[vi + 3:vi + 6]
                qi, vi = qi + 7, vi + 6
                continue
            if m.joint is None and m.type == "slide":
                root_dx = root_dx.at[m.dof].add(m.sign * dq[qi])
                root_v = root_v.at[m.dof].add(m.sign * dv[vi])
            elif m.joint is None:
                half = 0.5 * m.sign * dq[qi]
                root_rot = jnp.zeros(4, dtype).at[0].set(jnp.cos(half)).at[1 + m.dof].set(jnp.sin(half))
                root_w = root_w.at[m.dof].add(m.sign * dv[vi])
            else:
                slot = self._slot[m.joint] + m.dof
                angles = angles.at[slot].add(m.sign * dq[qi])
                hinge_dv[m.joint, m.dof] = m.sign * dv[vi]
            qi, vi = qi + 1, vi + 1
        qp = default_qp(sys, angles)
        origin = self.origin(self.rest_qp())[0]
        pos, rot = qp.pos + origin - self.origin(qp)[0], qp.rot        # the root stays where it rests
        if root_rot is not None:        # turn the tree about the root (its frame origin)
            pos = origin + rotate(pos - origin, root_rot)
            rot = quat_mul(jnp.broadcast_to(root_rot, rot.shape), rot)
            root_w = rotate(root_w, rot[self.torso]) if maps[0].type == "free" else root_w
        tree = np.zeros((sys.num_bodies, 1))
        tree[self._subtree(self.torso)] = 1.0
        pos = pos + root_dx * tree                    # the root's tree only (the reacher's target is a root)
        origin = origin + root_dx
        ang = jnp.broadcast_to(root_w, pos.shape)
        vel = root_v + cross(ang, pos - origin)
        for g in sys.joints:
            for j, name in enumerate(g.names):
                c = g.child[j]
                anchor = pos[c] + rotate(g.child_offset[j], rot[c])
                w = sum(a * hinge_dv.get((name, k), 0.0) for k, a in enumerate(self.joint_axes(rot, g, j)))
                below = np.asarray(self._subtree(c))
                ang = ang.at[below].add(w)
                vel = vel.at[below].add(cross(w, pos[below] - anchor))
        moving = (sys.inv_mass > 0)[:, None]
        return QP(pos, rot, jnp.where(moving, vel * sys.free_position, 0.0),
                  jnp.where(moving, ang * sys.free_rotation, 0.0))

    def _subtree(self, body: int) -> list:
        """`body` and every body below it in the joint tree."""
        children = {}
        for g in self.params.joints:
            for p, c in zip(g.parent, g.child):
                children.setdefault(p, []).append(c)
        out, todo = [], [body]
        while todo:
            b = todo.pop()
            out.append(b)
            todo += children.get(b, [])
        return sorted(out)

    # -- root slides: forces the engine does not apply (MjcfImport.root_slides) ---------
    def slide_forces(self, qp: QP, ctrl):
        """(force [bodies, 3], limit [slides]) of the root slides: along each
        slide's world axis, gear ctrl - damping q' plus the limit's spring and
        damper past its range (clipped so it never pulls further out); q, q'
        of the slide's MJCF body origin (`origin`)."""
        force, limits = jnp.zeros_like(qp.pos), []
        for s in self.mjcf.root_slides:
            b = self.sys.body_index(s.body)
            pos, vel = self.origin(qp, b)
            q = s.ref + s.sign * (pos[s.axis] - self.mjcf.rest_origin[s.body][s.axis])
            speed = s.sign * vel[s.axis]
            f = -s.damping * speed
            if s.actuator is not None:
                lo, hi = self.mjcf.actuators[s.actuator].ctrlrange or (-jnp.inf, jnp.inf)
                f = f + s.gear * jnp.clip(ctrl[s.actuator], lo, hi)
            limit = jnp.zeros((), qp.pos.dtype)
            if s.range is not None:
                past = jnp.clip(q, *s.range) - q
                limit = s.limit_strength * past - s.limit_damping * speed
                limit = jnp.where(past > 0, jnp.maximum(limit, 0.0), jnp.where(past < 0, jnp.minimum(limit, 0.0), 0.0))
            force = force.at[b, s.axis].add(s.sign * (f + limit))
            limits.append(limit)
        return force, jnp.stack(limits) if limits else jnp.zeros(0)

    def physics(self, qp: QP, action):
        """The engine's step; with root slides (`action` = engine action, then
        ctrl) one engine substep at a time, each after a kick v += F h / m of
        the slide forces (the engine's own order: forces of the substep's state)."""
        if not self.mjcf.root_slides:
            return super().physics(qp, action)
        engine, ctrl = action[:self.params.action_size], action[self.params.action_size:]
        sub = self.params.replace(dt=self.params.dt / self._substeps, substeps=1)

        def substep(carry, _):
            qp, dvel, dang = carry
            force, _ = self.slide_forces(qp, ctrl)
            qp = qp.replace(vel=qp.vel + force * (sub.inv_mass[:, None] * sub.dt) * sub.free_position)
            qp, info = step_with_info(sub, qp, engine)
            return (qp, dvel + info.contact_vel, dang + info.contact_ang), info

        zero = jnp.zeros_like(qp.vel)
        (qp, dvel, dang), infos = jax.lax.scan(substep, (qp, zero, zero), None, length=self._substeps)
        last = jax.tree.map(lambda x: x[-1], infos)
        return qp, last.replace(contact_vel=dvel, contact_ang=dang)

    def step_batch(self, state, action, params=None):
        if self.mjcf.root_slides:                    # `physics` per member (vmap)
            return super(RigidEnv, self).step_batch(state, action, params)
        return super().step_batch(state, action, params)

    # -- RigidEnv hooks ---------------------------------------------------------------
    def initial_qp(self, rng):
        k1, k2 = jax.random.split(rng)
        s = self.reset_noise_scale
        dq = jax.random.uniform(k1, (self.nq,), minval=-s, maxval=s)
        dv = (s * jax.random.normal(k2, (self.nv,)) if self.gaussian_velocity_noise
              else jax.random.uniform(k2, (self.nv,), minval=-s, maxval=s))
        return self.place(dq, dv), None

    def prepare(self, state, action):
        engine = self.mjcf.action(action)
        if self.mjcf.root_slides:                  # `physics` needs the ctrl too
            engine = jnp.concatenate([engine, action.astype(engine.dtype)])
        return state.pipeline_state, engine

    def observe(self, qp, contact, info):
        qpos, qvel = self.generalized(qp, contact.joint_angle, contact.joint_speed)
        if self.qvel_clip is not None:
            qvel = jnp.clip(qvel, -self.qvel_clip, self.qvel_clip)
        return self._obs([qpos[self.skipped_qpos:], qvel] + self.extra_obs(qp, contact))

    def transition(self, state, action, qp, contact):
        x_before = self.origin(state.pipeline_state)[0][0]
        x_after = self.origin(qp)[0][0]
        x_velocity = (x_after - x_before) / self.sys.dt
        terms = {"reward_forward": self.forward_reward_weight * x_velocity,
                 "reward_ctrl": -self.ctrl_cost_weight * jnp.sum(action ** 2)}
        healthy = self.healthy(*self.generalized(qp, contact.joint_angle, contact.joint_speed))
        if "reward_survive" in self.reward_terms:
            terms["reward_survive"] = self.healthy_reward * healthy.astype(jnp.float32)
        terms.update(self.extra_terms(qp, contact))
        done = ~healthy if self.terminate_when_unhealthy else None
        return self.finish(state, qp, contact, terms, done,
                           metrics={"x_position": x_after, "x_velocity": x_velocity})

    def extra_terms(self, qp, contact) -> dict:
        return {}

    # -- stand-ins for MuJoCo's per-body quantities: [MJCF bodies - 1, k] ------------
    def per_mjcf_body(self, values):
        """Rows of `values` [engine bodies, k] for MuJoCo's bodies 1.. (its
        order): a jointed body's own row, 0 for a body welded into another."""
        names = [b.name for b in self.sys.spec.bodies]
        zero = jnp.zeros(values.shape[1:], values.dtype)
        return jnp.stack([values[names.index(n)] if n in names else zero for n in list(self.mjcf.bodies)[1:]])

    def contact_wrench(self, qp, contact):
        """The stand-in for cfrc_ext[1:] [MJCF bodies - 1, 6]: each body's
        contact impulse of the step over dt, (I dω, m dv) / dt (world axes)."""
        sys = self.sys
        torque = rotate(sys.inertia * inv_rotate(contact.contact_ang, qp.rot), qp.rot) / sys.dt
        force = sys.mass[:, None] * contact.contact_vel / sys.dt
        return self.per_mjcf_body(jnp.concatenate([torque, force], axis=-1))


class HalfCheetahV5(MjcfEnv):
    """gymnasium HalfCheetah-v5 on half_cheetah.xml: obs (17) = qpos[1:] (8),
    qvel (9); reward = x velocity - 0.1 sum(ctrl^2); never terminates."""
    xml = "half_cheetah.xml"
    frame_skip = 5
    reset_noise_scale = 0.1
    gaussian_velocity_noise = True
    ctrl_cost_weight = 0.1
    terminate_when_unhealthy = False


class HopperV5(MjcfEnv):
    """gymnasium Hopper-v5 on hopper.xml: obs (11) = qpos[1:] (5), clip(qvel,
    -10, 10) (6); reward = x velocity + 1 (healthy) - 1e-3 sum(ctrl^2)."""
    xml = "hopper.xml"
    frame_skip = 4
    reset_noise_scale = 5e-3
    ctrl_cost_weight = 1e-3
    qvel_clip = 10.0
    reward_terms = ("reward_forward", "reward_ctrl", "reward_survive")
    healthy_z_range = (0.7, float("inf"))
    healthy_angle_range = (-0.2, 0.2)
    healthy_state_range = (-100.0, 100.0)

    def healthy(self, qpos, qvel):
        z, angle = qpos[1], qpos[2]
        state = jnp.concatenate([qpos, qvel])[2:]
        (z_lo, z_hi), (a_lo, a_hi), (s_lo, s_hi) = (self.healthy_z_range, self.healthy_angle_range,
                                                    self.healthy_state_range)
        return (jnp.all((s_lo < state) & (state < s_hi)) & (z_lo < z) & (z < z_hi)
                & (a_lo < angle) & (angle < a_hi))


class Walker2dV5(HopperV5):
    """gymnasium Walker2d-v5 on walker2d_v5.xml: obs (17) = qpos[1:] (8),
    clip(qvel, -10, 10) (9); reward as the hopper's; healthy: 0.8 < z < 2,
    -1 < angle < 1 (no state range)."""
    xml = "walker2d_v5.xml"
    healthy_z_range = (0.8, 2.0)
    healthy_angle_range = (-1.0, 1.0)
    healthy_state_range = (-float("inf"), float("inf"))


class AntV5(MjcfEnv):
    """gymnasium Ant-v5 on ant.xml: obs (105) = qpos[2:] (13), qvel (14), the
    contact wrench stand-in of bodies 1..13 (78, see the module docstring);
    reward = x velocity of the torso + 1 (healthy) - 0.5 sum(ctrl^2) - 5e-4
    sum(contact^2)."""
    xml = "ant.xml"
    frame_skip = 5
    reset_noise_scale = 0.1
    gaussian_velocity_noise = True
    skipped_qpos = 2
    ctrl_cost_weight = 0.5
    contact_cost_weight = 5e-4
    healthy_z_range = (0.2, 1.0)
    reward_terms = ("reward_forward", "reward_ctrl", "reward_contact", "reward_survive")

    def extra_obs_size(self) -> int:
        return 6 * (len(self.mjcf.bodies) - 1)

    def contact_forces(self, qp, contact):
        """`contact_wrench` clipped to [-1, 1], as gymnasium clips cfrc_ext."""
        return jnp.clip(self.contact_wrench(qp, contact), -1.0, 1.0)

    def extra_obs(self, qp, contact):
        return [self.contact_forces(qp, contact)]

    def extra_terms(self, qp, contact):
        return {"reward_contact": -self.contact_cost_weight * jnp.sum(self.contact_forces(qp, contact) ** 2)}

    def healthy(self, qpos, qvel):
        lo, hi = self.healthy_z_range
        finite = jnp.all(jnp.isfinite(qpos)) & jnp.all(jnp.isfinite(qvel))
        return finite & (lo <= qpos[2]) & (qpos[2] <= hi)


class HumanoidV5(MjcfEnv):
    """gymnasium Humanoid-v5 on humanoid.xml (its tendons dropped by the
    import): obs (348) = qpos[2:] (22), qvel (23), cinert[1:] (130), cvel[1:]
    (78), qfrc_actuator[6:] (17), cfrc_ext[1:] (78); reward = 1.25 x velocity
    of the centre of mass + 5 (healthy) - 0.1 sum(ctrl^2) - min(5e-7
    sum(cfrc_ext^2), 10); healthy while 1 < z = qpos[2] < 2.
    Stand-ins (bodies welded into another, the feet, read 0): cinert: the
    body's inertia tensor about the whole model's centre of mass c (xx, yy,
    zz, xy, xz, yz), m (x - c), m; cvel: (ω, v + ω × (c - x)); qfrc_actuator:
    each hinge's motor torque gear ctrl; cfrc_ext: `contact_wrench`."""
    xml = "humanoid.xml"
    frame_skip = 5
    reset_noise_scale = 1e-2
    skipped_qpos = 2
    forward_reward_weight = 1.25
    ctrl_cost_weight = 0.1
    healthy_reward = 5.0
    contact_cost_weight = 5e-7
    contact_cost_max = 10.0
    healthy_z_range = (1.0, 2.0)
    reward_terms = ("reward_forward", "reward_ctrl", "reward_contact", "reward_survive")

    def __init__(self, system=None):
        super().__init__(system)
        strength = np.zeros(self.params.action_size)
        for a in self.mjcf.spec.actuators:
            if a.type == "torque":
                strength[self._slot[a.joint]:self._slot[a.joint] + len(self._limits(a.joint))] = a.strength * a.gear
        hinges = [m for m in self.mjcf.joints.values() if m.joint is not None]
        self._force_slot = np.array([self._slot[m.joint] + m.dof for m in hinges])
        self._force_scale = np.array([m.sign for m in hinges]) * strength[self._force_slot]

    def _limits(self, joint):
        return next(j.limits for j in self.mjcf.spec.joints if j.name == joint)

    def extra_obs_size(self) -> int:
        return (10 + 6 + 6) * (len(self.mjcf.bodies) - 1) + sum(m.joint is not None for m in self.mjcf.joints.values())

    def initial_info(self, rng, qp):
        return qp, {"qfrc_actuator": jnp.zeros(len(self._force_slot))}

    def centre_of_mass(self, qp):
        m = jnp.where(self.sys.inv_mass > 0, self.sys.mass, 0.0)
        return jnp.sum(m[:, None] * qp.pos, axis=0) / jnp.sum(m)

    def extra_obs(self, qp, contact):
        sys, c = self.sys, self.centre_of_mass(qp)
        m = sys.mass[:, None]
        d = qp.pos - c
        mat = quat_to_matrix(qp.rot)
        inertia = jnp.einsum("bij,bj,bkj->bik", mat, sys.inertia, mat)
        inertia = inertia + m[..., None] * (jnp.sum(d * d, -1)[:, None, None] * jnp.eye(3) - d[:, :, None] * d[:, None, :])
        sym = inertia[:, [0, 1, 2, 0, 0, 1], [0, 1, 2, 1, 2, 2]]
        cinert = jnp.concatenate([sym, m * d, m], axis=-1)
        cvel = jnp.concatenate([qp.ang, qp.vel + cross(qp.ang, -d)], axis=-1)
        return [self.per_mjcf_body(cinert), self.per_mjcf_body(cvel)]

    def observe(self, qp, contact, info):
        head = super().observe(qp, contact, info)
        return self._obs([head, info["qfrc_actuator"], self.contact_wrench(qp, contact)])

    def transition(self, state, action, qp, contact):
        # x of the centre of mass, not of the torso (gymnasium's mass_center)
        before, after = self.centre_of_mass(state.pipeline_state)[0], self.centre_of_mass(qp)[0]
        x_velocity = (after - before) / self.sys.dt
        qpos, qvel = self.generalized(qp, contact.joint_angle, contact.joint_speed)
        healthy = self.healthy(qpos, qvel)
        cost = self.contact_cost_weight * jnp.sum(self.contact_wrench(qp, contact) ** 2)
        terms = {"reward_forward": self.forward_reward_weight * x_velocity,
                 "reward_ctrl": -self.ctrl_cost_weight * jnp.sum(action ** 2),
                 "reward_contact": -jnp.minimum(cost, self.contact_cost_max),
                 "reward_survive": self.healthy_reward * healthy.astype(jnp.float32)}
        force = self._force_scale * self.mjcf.action(action)[self._force_slot]
        return self.finish(state, qp, contact, terms, ~healthy,
                           metrics={"x_position": after, "x_velocity": x_velocity},
                           info={"qfrc_actuator": force})

    def healthy(self, qpos, qvel):
        lo, hi = self.healthy_z_range
        return (lo < qpos[2]) & (qpos[2] < hi)
