"""One gradient step: loss -> grads -> (mean over devices) -> optax update.

Every trainer's parameter update goes through `gradient_update`, so device
parallelism is one argument: with `axis_name` set (inside `pmap`/`shard_map`
over that axis) the gradients are averaged across devices before the update,
and every device keeps identical parameters.
"""

from __future__ import annotations

from typing import Callable

import jax
import optax


def pmean(tree, axis_name: str | None):
    """Mean of `tree` over the named device axis; identity when `axis_name` is None."""
    return tree if axis_name is None else jax.lax.pmean(tree, axis_name)


def gradient_update(loss_fn: Callable, optimizer: optax.GradientTransformation,
                    axis_name: str | None = None, has_aux: bool = False):
    """`update(params, opt_state, *args) -> (loss_or_(loss, aux), params, opt_state)`
    for `loss_fn(params, *args)`."""
    grad_fn = jax.value_and_grad(loss_fn, has_aux=has_aux)

    def update(params, opt_state, *args):
        value, grads = grad_fn(params, *args)
        grads = pmean(grads, axis_name)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return value, optax.apply_updates(params, updates), opt_state

    return update
