"""The README's tour runs as written."""

import pathlib
import re

import numpy as np


def test_readme_python_blocks_run():
    text = (pathlib.Path(__file__).parents[1] / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert blocks, "README has no python examples"
    scopes = []
    for block in blocks:       # each block stands alone, as a reader would paste it
        scopes.append({})
        exec(compile(block, "README.md", "exec"), scopes[-1])
    scope = scopes[0]
    # the tour thermostats to kT = 1 and differentiates with respect to sigma
    assert 0.5 < float(scope["quantity"].temperature(momentum=scope["state"].momentum,
                                                     mass=scope["state"].mass)) < 1.6
    assert np.isfinite(float(scope["dE_dsigma"]))
    assert scope["force"].shape == (1000, 3)
    # the env tour: a batched step, a gradient through a scan, and the adapters
    scope = scopes[1]
    assert scope["grad"].shape == (10, 256, 1) and np.all(np.isfinite(scope["grad"]))
    assert scope["heavy"].params.mass.shape == (8,)
    assert scope["slot_obs"].shape == (48, 10) and scope["slot_reward"].shape == (48,)
    assert scope["pz"].agents == ["predator_0", "predator_1", "prey_0", "prey_1", "prey_2"]
    assert float(scope["long"].unwrapped.params.length) == 2.0
    # the flocking tour
    scope = scopes[2]
    assert 0 <= float(scope["metrics"]["polarization"][-1]) <= 1
    assert set(scope["terms"]) == {"alignment", "avoidance", "cohesion", "obstacle", "predator"}
    assert np.isfinite(float(scope["d_pol"])) and float(scope["d_pol"]) != 0
    assert scope["fs"].obs["boid"].shape == (4, 100, 41)
    assert scope["duel"].agents == {"boid": 50, "predator": 3}
