# Two commands on a fresh machine with Python >= 3.11:
#   make demo   sets up .venv and runs the main job: PPO trains halfcheetah (outputs/demo/halfcheetah/
#               reward_curve.png, rollout.gif, rollout.html), then the energy-model flock (outputs/demo/flock.gif)
#   make test   sets up .venv and runs the test suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test bench clean

$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python scripts/train_demo.py --out outputs/demo
	$(BIN)/python scripts/flock_demo.py --out outputs/demo

test: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 --dist loadfile tests

bench: $(STAMP)
	$(BIN)/python benchmarks/lj_nve.py
	$(BIN)/python benchmarks/vector_adapter.py
	$(BIN)/python benchmarks/flocking.py
	$(BIN)/python benchmarks/rigid.py --peers v1,spring,mjx --rounds 1
	$(BIN)/python benchmarks/rigid_envs.py --rounds 1
	$(BIN)/python benchmarks/training.py

clean:
	rm -rf $(VENV) outputs .pytest_cache
