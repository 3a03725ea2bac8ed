"""gambol.physics.rigid: maximal-coordinate rigid bodies with spring joints,
actuators and Baumgarte-stabilised contacts (the Brax paper's engine, written
afresh).

    sys = load_system("ant.toml")        # or build_system(SystemSpec(...))
    qp = default_qp(sys)
    qp = step(sys, qp, action)           # one scene; action: [sys.action_size]
    qps = step_batch(sys, qps, actions)  # [B, ...] batch-minor inside (faster than vmap(step))
"""

from gambol.physics.rigid import diagnostics, math
from gambol.physics.rigid.joints import joint_angles
from gambol.physics.rigid.qp import QP, default_qp
from gambol.physics.rigid.spec import (Actuator, Body, Collider, Joint, SpecError, SystemSpec,
                                       load_spec, validate)
from gambol.physics.rigid.pipeline import (CHUNK_BY_BACKEND, StepInfo, step, step_batch, step_batch_with_info,
                                           step_with_info)
from gambol.physics.rigid.system import System, build_system, load_system
from gambol.physics.rigid.mjcf import load_mjcf

__all__ = ["diagnostics", "joint_angles", "math", "QP", "default_qp", "Actuator", "Body", "Collider", "Joint", "SpecError",
           "SystemSpec", "load_spec", "validate", "CHUNK_BY_BACKEND", "StepInfo", "step", "step_batch",
           "step_batch_with_info", "step_with_info", "System",
           "build_system", "load_system", "load_mjcf"]
