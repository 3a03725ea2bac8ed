"""brax 0.0.16's paper-era envs (spring engine, `legacy_spring=True`) replaying given action
sequences; the brax side of benchmarks/rigid_fidelity.py. Runs in the venv $ANCHORS/braxv1
(jax 0.4.35) and never imports gambol: states and actions travel as .npz files.

Usage: python _rigid_fidelity_brax_v1.py IN.npz OUT.npz
IN holds `env` (str), `seeds` [S] and `actions` [S, T, A] (brax's action order). Each scene s is
reset with `env.reset(PRNGKey(seeds[s]))` (brax's own start: default angles plus U(-0.1, 0.1)
joint angle and speed noise, a random target in fetch and grasp) and stepped T times with
`env.step` (no episode wrapper, no auto-reset). OUT holds, float32:
  pos [S, T+1, N, 3], rot [S, T+1, N, 4], vel, ang (the QP of every body; index 0 is the reset),
  contacts [S, T] (bodies whose summed contact velocity change this step has |dvel|^2 > 1e-5,
  the flag brax's grasp and fetch observe), default_pos, default_rot [N, ...] (`sys.default_qp` with
  every joint at angle 0), and the scene's description: config_json (the whole config as
  JSON), body_names [N], joint_name, joint_parent,
  joint_child [J], joint_dof [J], actuator_joint [K], actuator_first_slot [K] (the action slots
  of each actuator, in config order: its joint's DoF count from that slot on, as brax 0.0.16's
  `actuators.build` lays them out), dt, substeps. With T = 0 only the description is written.
"""
import sys

import jax
import numpy as np
from google.protobuf import json_format

import _brax_v1_shims    # noqa: F401  (before brax)
from brax import envs    # noqa: E402

_brax_v1_shims.patch_jumpy()


def describe(env):
  """Body names, joints (parent, child, DoF) and the action slots of each actuator."""
  config = env.sys.config
  index = env.sys.body.index
  names = sorted(index, key=index.get)
  dof = {j.name: len(j.angle_limit) for j in config.joints}
  first, slot = [], 0
  for a in config.actuators:
    first.append(slot)
    slot += dof[a.joint]
  constants = json_format.MessageToJson(config, preserving_proto_field_name=True)
  return dict(config_json=np.array(constants), body_names=np.array(names), joint_name=np.array([j.name for j in config.joints]),
              joint_parent=np.array([j.parent for j in config.joints]),
              joint_child=np.array([j.child for j in config.joints]),
              joint_dof=np.array([dof[j.name] for j in config.joints]),
              actuator_joint=np.array([a.joint for a in config.actuators]),
              actuator_first_slot=np.array(first), dt=float(config.dt),
              substeps=int(config.substeps))


def replay(env, seeds, actions):
  """QP trajectories [S, T+1, ...] and per-step contact counts [S, T] under `actions` [S, T, A]."""
  captured = {}
  system_step = env.sys.step

  def step_recording(qp, act):           # env.step calls sys.step once; keep its Info
    qp, info = system_step(qp, act)
    captured['info'] = info
    return qp, info

  env.sys.step = step_recording

  def one(seed, acts):
    state = env.reset(jax.random.PRNGKey(seed))

    def body(state, a):
      state = env.step(state, a)
      contact = np.float32(0) + jax.numpy.sum(
          jax.numpy.sum(captured['info'].contact.vel ** 2, axis=-1) > 1e-5)
      return state, (state.qp, contact)

    _, (qps, contacts) = jax.lax.scan(body, state, acts)
    qps = jax.tree_util.tree_map(lambda a, b: jax.numpy.concatenate([a[None], b]), state.qp, qps)
    return qps, contacts

  qps, contacts = jax.jit(jax.vmap(one))(jax.numpy.asarray(seeds), jax.numpy.asarray(actions))
  out = {k: np.asarray(getattr(qps, k), np.float32) for k in ('pos', 'rot', 'vel', 'ang')}
  out['contacts'] = np.asarray(contacts, np.float32)
  return out


def main(path_in, path_out):
  data = np.load(path_in)
  env = envs._envs[str(data['env'])](legacy_spring=True)
  rest = env.sys.default_qp(joint_angle=jax.numpy.zeros(env.sys.num_joint_dof))
  out = dict(describe(env), default_pos=np.asarray(rest.pos, np.float32),
             default_rot=np.asarray(rest.rot, np.float32), jax_version=jax.__version__)
  if data['actions'].shape[1]:                     # T = 0: the description alone
    out.update(replay(env, data['seeds'], data['actions'].astype(np.float32)))
  np.savez(path_out, **out)


if __name__ == '__main__':
  main(sys.argv[1], sys.argv[2])
