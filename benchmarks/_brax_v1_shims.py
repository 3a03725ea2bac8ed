"""Import-time shims that let brax 0.0.16 run on jax 0.4.35 and 0.10.1 (the physics code is
untouched); import this module before `brax`. Imports jax only (never gambol).

- 0.0.16's `brax.jumpy._in_jit` asks `jax.core.cur_sublevel()`, which stays at 0 inside jit on
  jax 0.4.35 (and is gone on 0.10), so jumpy picks numpy for traced values and jit fails. It is
  replaced here by jax's own under-jit test (`patch_jumpy`, after brax is imported).
- jumpy names `jax.interpreters.batching.BatchTracer` when it picks numpy or jax.numpy (already at
  import); jax 0.10 no longer exports it. Every tracer is a `jax.Array`, which jumpy already tests
  for, so that name is pointed at `jax.Array` here, before brax is imported.
"""
import jax
import jax.interpreters.batching

if not hasattr(jax.interpreters.batching, 'BatchTracer'):        # jax >= 0.5
  jax.interpreters.batching.BatchTracer = jax.Array


def _under_jit():
  return jax.config.jax_disable_jit or jax.core.unsafe_am_i_under_a_jit_DO_NOT_USE()


def patch_jumpy():
  """Point brax.jumpy's under-jit test at jax's own (looked up as a module global on every jumpy
  call); returns brax.jumpy."""
  from brax import jumpy
  jumpy._in_jit = _under_jit
  return jumpy
