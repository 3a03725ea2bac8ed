"""gambol.agents: flax networks, distrax action distributions, policies and
observation normalisation. Nothing here knows about a specific env."""

from gambol.agents import distributions, networks, normalization, policy
from gambol.agents.networks import MLP, QNetwork, ValueNetwork, policy_network
from gambol.agents.normalization import RunningStats, init_stats, normalize, update_stats
from gambol.agents.policy import make_policy_factory, team_policy

__all__ = ["distributions", "networks", "normalization", "policy", "MLP", "QNetwork",
           "ValueNetwork", "policy_network", "RunningStats", "init_stats", "normalize",
           "update_stats", "make_policy_factory", "team_policy"]
