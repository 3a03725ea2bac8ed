"""`RigidEnv`: the shared base of the rigid-body envs (ant, halfcheetah, humanoid,
grasp, fetch) on `gambol.physics.rigid`.

An env is a packaged TOML scene (`envs/assets/<name>.toml`) plus its observation,
reward and termination. `env.params` is the `System`, so `with_params` and domain
randomisation vary masses, friction, stiffness, dt... without a rebuild.
`pipeline_state` is the `QP` of every body. Each reward term is a metric, and the
terms listed in `reward_terms` sum to the reward.

Subclasses set `asset`, `version`, `observation_size_`, `reward_terms` (and
`extra_metrics`, `extra_actions` for actions the scene has no joint for) and
implement `observe(qp, contact, info) -> obs` (`contact`: the step's
`StepInfo`, with its contact velocity changes and joint angles and speeds) and
`transition(state, action, qp, contact) -> State`, the reward and termination
of one member after its physics step, ending in `finish`. Hooks:
`prepare(state, action) -> (qp, physics action)` (what happens before the
physics step; default: the state's qp and the action), `initial_qp(rng) ->
(qp, contact or None)` (default: `default_qp` with a small velocity
perturbation, see `perturbed_qp`) and `initial_info(rng, qp) -> (qp, info)`
(targets, env keys).

A step is prepare -> physics -> transition. One member's `step` runs the
engine's one-scene `step_with_info`; a batch (`step_batch`, what `VmapWrapper`
calls) runs prepare and transition under `vmap` and the physics of the whole
batch as one `rigid.step_batch_with_info`, batch-minor inside. With per-member
physical parameters (domain randomisation) the batch is a `vmap` of `step`.
"""

from __future__ import annotations

import importlib.resources

import jax
import jax.numpy as jnp
import numpy as np

from gambol.envs.base import Box, Env, State
from gambol.physics.rigid import (QP, StepInfo, System, default_qp, joint_angles, load_system,
                                  step_batch_with_info, step_with_info)
from gambol.physics.rigid.math import inv_rotate


def load_asset(name: str) -> System:
    """The `System` of the packaged scene `envs/assets/<name>.toml`."""
    text = importlib.resources.files("gambol.envs").joinpath("assets", f"{name}.toml").read_text()
    return load_system(text)


def no_contact(sys: System, qp: QP) -> StepInfo:
    """The step record of a state no step has produced yet: no contacts, and the
    joint angles and speeds of `qp` (one scene)."""
    return StepInfo(jnp.zeros_like(qp.vel), jnp.zeros_like(qp.ang), *joint_angles(sys, qp))


def contact_flags(contact: StepInfo) -> jax.Array:
    """1.0 for each body whose contact velocity change this step has |dvel|^2 > 1e-5 [B]."""
    return (jnp.sum(contact.contact_vel ** 2, axis=-1) > 1e-5).astype(contact.contact_vel.dtype)


def local_frame(qp: QP, origin: int):
    """Positions relative to body `origin` and all velocities, in its frame: ([B, 3], [B, 3])."""
    rot = qp.rot[origin]
    return inv_rotate(qp.pos - qp.pos[origin], rot), inv_rotate(qp.vel, rot)


def unit(v, eps=1e-6):
    """(|v|, v / (eps + |v|)) for v: [..., 3]."""
    norm = jnp.linalg.norm(v, axis=-1, keepdims=True)
    return norm[..., 0], v / (eps + norm)


def random_target(rng, radius, spread, z_low, z_high):
    """A point [3] at horizontal distance radius + spread U and angle 2π U from the
    origin, at height z_low + (z_high - z_low) U (independent uniforms U)."""
    k1, k2, k3 = jax.random.split(rng, 3)
    dist = radius + spread * jax.random.uniform(k1)
    angle = 2 * jnp.pi * jax.random.uniform(k2)
    z = z_low + (z_high - z_low) * jax.random.uniform(k3)
    return jnp.stack([dist * jnp.cos(angle), dist * jnp.sin(angle), z])


class RigidEnv(Env):
    asset: str = ""
    observation_size_: int = 0
    reward_terms: tuple[str, ...] = ()
    extra_metrics: tuple[str, ...] = ()
    extra_actions: int = 0
    velocity_noise: float = 0.1
    torso_body: str | None = None        # its index is `self.torso` (rewards, observations)

    def __init__(self, system: System | None = None):
        self.params = load_asset(self.asset) if system is None else system
        if not isinstance(self.params, System):
            raise TypeError(f"{type(self).__name__}: system expected a gambol.physics.rigid.System, "
                            f"got {type(self.params).__name__}")
        if self.torso_body is not None:
            self.torso = self.params.body_index(self.torso_body)
        self.observation_spec = Box((self.observation_size_,))
        self.action_spec = Box((self.params.action_size + self.extra_actions,), low=-1.0, high=1.0)

    @property
    def sys(self) -> System:
        return self.params

    @property
    def metadata(self) -> dict:
        return {"version": self.version, "asset": f"{self.asset}.toml",
                "reward_terms": self.reward_terms}

    def render(self, state: State):
        """One picture of an unbatched state, `uint8[320, 320, 3]` (bodies as their
        collider shapes; see `envs.rigid_render` for the HTML player and GIFs)."""
        from gambol.envs.rigid_render import render_frame
        return render_frame(self.sys, state.pipeline_state)

    # -- hooks ---------------------------------------------------------------------
    def observe(self, qp: QP, contact: StepInfo, info: dict) -> jax.Array:
        raise NotImplementedError

    def perturbed_qp(self, rng) -> QP:
        """`default_qp` with every free velocity axis of every body moved by
        U(-velocity_noise, velocity_noise) (linear and angular)."""
        sys = self.params
        qp = self.rest_qp()
        k1, k2 = jax.random.split(rng)
        n = self.velocity_noise
        dv = jax.random.uniform(k1, qp.vel.shape, qp.vel.dtype, -n, n) * sys.free_position
        dw = jax.random.uniform(k2, qp.ang.shape, qp.ang.dtype, -n, n) * sys.free_rotation
        moving = (sys.inv_mass > 0)[:, None]
        return qp.replace(vel=jnp.where(moving, dv, 0.0), ang=jnp.where(moving, dw, 0.0))

    def rest_qp(self) -> QP:
        """`default_qp(params)`. With concrete params (not traced, e.g. not under
        `with_params` in a vmap) it is evaluated once, eagerly, and kept, so that
        resets (also the auto-resets inside every training step) embed it as a
        constant instead of recompiling the joint-tree walk."""
        sys = self.params
        try:
            jax.tree.map(np.asarray, sys)
        except jax.errors.TracerArrayConversionError:        # traced params
            return default_qp(sys)
        cached = getattr(self, "_rest_qp", None)
        if cached is None or cached[0] is not sys:
            with jax.ensure_compile_time_eval():
                cached = (sys, jax.device_get(default_qp(sys)))
            self._rest_qp = cached
        return jax.tree.map(jnp.asarray, cached[1])

    def initial_qp(self, rng) -> tuple[QP, StepInfo]:
        return self.perturbed_qp(rng), None

    def initial_info(self, rng, qp: QP) -> tuple[QP, dict]:
        return qp, {}

    # -- Env -------------------------------------------------------------------------
    def physics(self, qp: QP, action) -> tuple[QP, StepInfo]:
        """One `dt` of physics; action: [sys.action_size]."""
        return step_with_info(self.params, qp, action.astype(qp.pos.dtype))

    def prepare(self, state: State, action) -> tuple[QP, jax.Array]:
        """(qp, physics action [sys.action_size]) for the physics step of one member."""
        return state.pipeline_state, action

    def transition(self, state: State, action, qp: QP, contact: StepInfo) -> State:
        """The next `State` of one member from its physics step's `qp` and `contact`."""
        raise NotImplementedError

    def _step(self, state: State, action) -> State:
        qp, physics_action = self.prepare(state, action)
        return self.transition(state, action, *self.physics(qp, physics_action))

    def step_batch(self, state: State, action, params=None) -> State:
        if params is not None:                  # a system per member: vmap of step
            return super().step_batch(state, action, params)

        def before(state, action):
            action, invalid = self.accept_action(action)
            return (action, invalid) + tuple(self.prepare(state, action))

        def after(state, action, invalid, qp, contact):
            return self.conclude(state, self.transition(state, action, qp, contact), invalid)

        action, invalid, qp, physics_action = jax.vmap(before)(state, action)
        qp, contact = step_batch_with_info(self.params, qp, physics_action.astype(qp.pos.dtype))
        return jax.vmap(after)(state, action, invalid, qp, contact)

    def _reset(self, rng) -> State:
        k1, k2 = jax.random.split(rng)
        qp, contact = self.initial_qp(k1)
        qp, info = self.initial_info(k2, qp)
        contact = no_contact(self.params, qp) if contact is None else contact
        zero = jnp.zeros(())
        metrics = {k: zero for k in self.reward_terms + self.extra_metrics}
        return State(qp, self.observe(qp, contact, info), zero, zero, metrics, info)

    def finish(self, state: State, qp: QP, contact: StepInfo, terms: dict, done=None,
               metrics: dict | None = None, info: dict | None = None) -> State:
        """The next `State` from the new `qp`, its reward `terms` (summed into the
        reward, each also a metric), termination and extra metrics/info."""
        info = {**state.info, **(info or {})}
        reward = sum(terms[k] for k in self.reward_terms)
        metrics = {**state.metrics, **terms, **(metrics or {})}
        done = jnp.zeros(()) if done is None else jnp.asarray(done, jnp.float32)
        return state.replace(pipeline_state=qp, obs=self.observe(qp, contact, info),
                             reward=reward, done=done, metrics=metrics, info=info)

    def _obs(self, parts) -> jax.Array:
        return jnp.concatenate([jnp.reshape(p, -1) for p in parts]).astype(jnp.float32)
