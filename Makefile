# Two commands on a fresh machine with Python >= 3.11:
#   make demo   sets up .venv and runs the main job: PPO trains halfcheetah (outputs/demo/halfcheetah/
#               reward_curve.png, rollout.gif, rollout.html), then the energy-model flock (outputs/demo/flock.gif)
#   make test   sets up .venv and runs the test suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test test-oldest-jax bench clean

# The lowest supported versions (pyproject.toml's lower bounds, requirements-oldest.lock) in a venv of their own.
OLD_VENV  := .venv-oldest
OLD_BIN   := $(OLD_VENV)/bin
OLD_STAMP := $(OLD_VENV)/.installed

$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

$(OLD_STAMP): pyproject.toml requirements-oldest.lock
	$(PYTHON) -m venv $(OLD_VENV)
	$(OLD_BIN)/python -m pip install --quiet --upgrade pip
	$(OLD_BIN)/python -m pip install --quiet -r requirements-oldest.lock
	$(OLD_BIN)/python -m pip install --quiet --no-deps -e .
	touch $(OLD_STAMP)

demo: $(STAMP)
	$(BIN)/python scripts/train_demo.py --out outputs/demo
	$(BIN)/python scripts/flock_demo.py --out outputs/demo

test: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 --dist loadfile tests

test-oldest-jax: $(OLD_STAMP)
	$(OLD_BIN)/python -m pytest -q -n 2 tests/physics tests/envs

bench: $(STAMP)
	$(BIN)/python benchmarks/lj_nve.py
	$(BIN)/python benchmarks/vector_adapter.py
	$(BIN)/python benchmarks/flocking.py
	$(BIN)/python benchmarks/rigid.py --peers v1,spring,mjx --rounds 1
	$(BIN)/python benchmarks/rigid_envs.py --rounds 1
	$(BIN)/python benchmarks/training.py

clean:
	rm -rf $(VENV) $(OLD_VENV) outputs .pytest_cache

# stable-baselines3 (and torch's CPU wheel) and wandb in a venv of their own: the `sb3` and `wandb`
# extras are never core dependencies, so their tests (skipped in `make test`) run here.
.PHONY: test-sb3
SB3_VENV  := .venv-sb3
SB3_BIN   := $(SB3_VENV)/bin
SB3_STAMP := $(SB3_VENV)/.installed

$(SB3_STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(SB3_VENV)
	$(SB3_BIN)/python -m pip install --quiet --upgrade pip
	$(SB3_BIN)/python -m pip install --quiet -r requirements.lock
	$(SB3_BIN)/python -m pip install --quiet torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu \
		|| $(SB3_BIN)/python -m pip install --quiet torch==2.13.0
	$(SB3_BIN)/python -m pip install --quiet stable-baselines3==2.9.2 wandb==0.31.0
	$(SB3_BIN)/python -m pip install --quiet --no-deps -e .
	touch $(SB3_STAMP)

test-sb3: $(SB3_STAMP)
	$(SB3_BIN)/python -m pytest -q tests/envs/test_sb3_adapter.py tests/training/test_cli_loggers.py
