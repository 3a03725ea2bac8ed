"""One gradient step: loss -> grads -> optax update.

Every trainer's parameter update goes through `gradient_update`. Device
parallelism needs nothing here: the training iteration is jitted with the env
batch split over a device mesh (`training.parallel`), so the loss's means over
the batch, and with them the gradients, are already global.
"""

from __future__ import annotations

from typing import Callable

import jax
import optax


def gradient_update(loss_fn: Callable, optimizer: optax.GradientTransformation,
                    has_aux: bool = False):
    """`update(params, opt_state, *args) -> (loss_or_(loss, aux), params, opt_state)`
    for `loss_fn(params, *args)`."""
    grad_fn = jax.value_and_grad(loss_fn, has_aux=has_aux)

    def update(params, opt_state, *args):
        value, grads = grad_fn(params, *args)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return value, optax.apply_updates(params, updates), opt_state

    return update
