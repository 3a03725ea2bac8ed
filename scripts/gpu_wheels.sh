#!/bin/sh
# Download, into .whl/, the wheels that benchmarks/gpu.py needs on the lent GPU machine and that its
# image lacks (it has jax, flax, optax, chex, orbax, matplotlib, imageio; no network there). Python
# 3.12, x86-64 manylinux; versions from requirements.lock. Then, on the device machine:
#   python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site &&
#   python3 -m pip install -q --no-index --no-deps --no-build-isolation -e . && python3 benchmarks/gpu.py --out $OUT
set -e
cd "$(dirname "$0")/.."
grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
version() { grep -i "^$1==" requirements.lock | head -1; }
for spec in "$(version distrax)" "$(version tfp-nightly)" "$(version dm-tree)" "$(version gast)" \
            "$(version decorator)" "$(version gymnasium)" "$(version Farama-Notifications)" "setuptools==80.9.0"; do
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d .whl "$spec"
done
ls -l .whl
