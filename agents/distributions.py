"""Action distributions from distrax.

`tanh_normal` squashes a diagonal Gaussian into (-1, 1) with distrax's Tanh
bijector, so `log_prob` carries the change-of-variables term
log p(a) = log N(u) - sum log(1 - tanh(u)^2),  a = tanh(u).
Trainers that store actions keep the pre-squash sample `u` too
(`log_prob_pre_tanh`), because `atanh` of an action at +-1 is infinite.
"""

from __future__ import annotations

import distrax
import jax
import jax.numpy as jnp

KINDS = ("tanh_normal", "normal", "categorical")


def param_size(kind: str, action_size: int) -> int:
    """How many network outputs the distribution `kind` needs."""
    check_kind(kind)
    return action_size if kind == "categorical" else 2 * action_size


def check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"distribution: unknown kind {kind!r}; expected one of {KINDS}")


def tanh_normal(loc, scale) -> distrax.Transformed:
    """tanh(N(loc, diag(scale^2))), events over the last axis."""
    base = distrax.MultivariateNormalDiag(loc, scale)
    return distrax.Transformed(base, distrax.Block(distrax.Tanh(), ndims=1))


def _loc_scale(params, min_std: float):
    loc, raw_scale = jnp.split(params, 2, axis=-1)
    return loc, jax.nn.softplus(raw_scale) + min_std


def from_params(kind: str, params, min_std: float = 1e-3):
    """The distribution `kind` whose parameters a policy network produced.
    params: `[..., param_size(kind, action_size)]`."""
    check_kind(kind)
    if kind == "categorical":
        return distrax.Categorical(logits=params)
    loc, scale = _loc_scale(params, min_std)
    if kind == "normal":
        return distrax.MultivariateNormalDiag(loc, scale)
    return tanh_normal(loc, scale)


def mode(kind: str, params, min_std: float = 1e-3):
    """The deterministic action: tanh(loc) for tanh_normal, loc for normal,
    argmax for categorical."""
    check_kind(kind)
    if kind == "categorical":
        return jnp.argmax(params, axis=-1)
    loc, _ = _loc_scale(params, min_std)
    return jnp.tanh(loc) if kind == "tanh_normal" else loc


def sample_pre_tanh(kind: str, params, key, min_std: float = 1e-3):
    """(action, raw, log_prob): `raw` is what `log_prob_pre_tanh` takes back
    (the Gaussian sample for tanh_normal; the action itself otherwise)."""
    dist = from_params(kind, params, min_std)
    if kind != "tanh_normal":
        action, logp = dist.sample_and_log_prob(seed=key)
        return action, action, logp
    raw = dist.distribution.sample(seed=key)
    return jnp.tanh(raw), raw, log_prob_pre_tanh(dist, raw)


def log_prob_pre_tanh(dist, raw):
    """log p(tanh(raw)) for a `tanh_normal` (or log p(raw) for the others)."""
    if isinstance(dist, distrax.Transformed):
        return dist.distribution.log_prob(raw) - dist.bijector.forward_log_det_jacobian(raw)
    return dist.log_prob(raw)


def entropy(kind: str, params, key, min_std: float = 1e-3):
    """Entropy of the policy; for tanh_normal a one-sample estimate
    (no closed form): H = E[-log p(a)]."""
    dist = from_params(kind, params, min_std)
    if kind != "tanh_normal":
        return dist.entropy()
    raw = dist.distribution.sample(seed=key)
    return -log_prob_pre_tanh(dist, raw)
