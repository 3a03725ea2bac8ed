"""MJCF import, part 1: the XML with line numbers, attributes through
`default` classes, orientations, `compiler` and `option` (`XmlReader`), and
the tables of which attributes are handled, ignored or only render. Errors
name the element, the attribute and the line (`fail`); approximations are
errors under `strict=True` and warnings otherwise (`approx`). See `mjcf.py`.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from xml.parsers import expat

import numpy as np

from gambol.physics.rigid.spec import SpecError


# Attributes replaced by the engine's own method, or only for rendering.
IGNORED = {
    "compiler": {"meshdir", "texturedir", "assetdir", "strippath", "discardvisual", "fusestatic",
                 "inertiagrouprange", "exactmeshinertia", "usethread", "saveinertial", "alignfree"},
    "option": {"integrator", "iterations", "solver", "tolerance", "ls_iterations", "ls_tolerance",
               "noslip_iterations", "noslip_tolerance", "ccd_iterations", "ccd_tolerance", "cone",
               "jacobian", "impratio", "o_margin", "o_solref", "o_solimp", "o_friction",
               "magnetic", "apirate", "sdf_iterations", "sdf_initpoints"},
    "body": {"gravcomp", "user"},
    "joint": {"solreflimit", "solimplimit", "solreffriction", "solimpfriction", "margin", "group",
              "user", "actuatorfrclimited", "actuatorfrcrange", "actuatorgravcomp"},
    "geom": {"solref", "solimp", "margin", "gap", "condim", "priority", "solmix", "group", "user",
             "rgba", "material", "hfield", "mesh", "fitscale"},
    "motor": {"group", "user"},
    "position": {"group", "user"},
    "inertial": set(),
}
RENDER_ONLY = {"asset", "visual", "statistic", "size", "custom", "light", "camera", "site"}
HANDLED = {
    "compiler": {"angle", "eulerseq", "inertiafromgeom", "coordinate", "settotalmass", "autolimits"},
    "option": {"timestep", "gravity", "density", "viscosity", "wind"},
    "body": {"name", "pos", "quat", "euler", "axisangle", "xyaxes", "zaxis", "childclass"},
    "joint": {"name", "type", "pos", "axis", "range", "limited", "damping", "stiffness", "armature",
              "ref", "springref", "frictionloss", "class"},
    "freejoint": {"name", "align"},
    "geom": {"name", "type", "size", "pos", "quat", "euler", "axisangle", "xyaxes", "zaxis", "fromto",
             "density", "mass", "contype", "conaffinity", "friction", "class", "shellinertia"},
    "inertial": {"pos", "quat", "euler", "axisangle", "xyaxes", "zaxis", "mass", "diaginertia",
                 "fullinertia"},
    "motor": {"name", "joint", "gear", "ctrlrange", "ctrllimited", "forcerange", "forcelimited",
              "class"},
    "position": {"name", "joint", "gear", "ctrlrange", "ctrllimited", "forcerange", "forcelimited",
                 "kp", "kv", "class"},
}
ACTUATOR_TAGS = ("motor", "position")
UNSUPPORTED_ELEMENTS = {
    "tendon": "tendons are not supported", "equality": "equality constraints are not supported",
    "sensor": "sensors are not supported", "keyframe": "keyframes are not supported",
}


MAX_MAGNITUDE = 1e15       # any number in the XML; products of a few stay inside float32's 3.4e38


class MjcfWarning(UserWarning):
    """An MJCF feature imported as an approximation (`strict=False`)."""

# -- rotations (matrices act on column vectors; quaternions are w, x, y, z) --

def _quat_matrix(q) -> np.ndarray:
    w, x, y, z = np.asarray(q, float) / np.linalg.norm(q)
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
                     [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
                     [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)]])


def _axis_angle(axis, angle) -> np.ndarray:
    axis = np.asarray(axis, float) / np.linalg.norm(axis)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + math.sin(angle) * k + (1 - math.cos(angle)) * k @ k


def _z_to(z) -> np.ndarray:
    """The smallest rotation taking the z axis onto direction `z`."""
    z = np.asarray(z, float) / np.linalg.norm(z)
    axis = np.cross([0.0, 0.0, 1.0], z)
    s = np.linalg.norm(axis)
    if s < 1e-12:
        return np.eye(3) if z[2] > 0 else _axis_angle([1.0, 0.0, 0.0], math.pi)
    return _axis_angle(axis, math.atan2(s, z[2]))


def _euler_deg(r: np.ndarray) -> tuple:
    """Intrinsic x-y'-z'' angles (degrees) of a rotation matrix, the spec's
    convention: r = Rx(a) Ry(b) Rz(c)."""
    b = math.asin(max(-1.0, min(1.0, r[0, 2])))
    if abs(r[0, 2]) < 1 - 1e-12:
        a, c = math.atan2(-r[1, 2], r[2, 2]), math.atan2(-r[0, 1], r[0, 0])
    else:
        a, c = math.atan2(r[2, 1], r[1, 1]), 0.0
    return tuple(math.degrees(v) + 0.0 for v in (a, b, c))


def _perpendicular(x: np.ndarray) -> np.ndarray:
    e = np.eye(3)[int(np.argmin(np.abs(x)))]
    y = e - (e @ x) * x
    return y / np.linalg.norm(y)

class XmlReader:
    """Parsing, attributes and messages (a mixin of `mjcf._Reader`)."""

    # -- XML with line numbers, and messages naming element/attribute/line

    def _parse(self, text: str) -> ET.Element:
        """The element tree of `text`, recording each element's line."""
        parser = expat.ParserCreate()
        stack: list = []
        top: list = []

        def start(tag, attrs):
            el = ET.SubElement(stack[-1], tag, attrs) if stack else ET.Element(tag, attrs)
            self.lines[id(el)] = parser.CurrentLineNumber
            top.append(el) if not stack else None
            stack.append(el)

        parser.StartElementHandler = start
        parser.EndElementHandler = lambda tag: stack.pop()
        try:
            parser.Parse(text, True)
        except expat.ExpatError as e:
            raise SpecError(f"malformed XML at line {e.lineno}: {expat.ErrorString(e.code)}") from None
        root = top[0]
        self._keep = root            # ids stay valid while the tree lives
        if root.tag != "mujoco":
            self.fail(root, None, "the root element must be <mujoco>")
        return root

    def where(self, el) -> str:
        name = el.get("name")
        label = f"{el.tag} {name!r}" if name else el.tag
        return f"{label} at line {self.lines.get(id(el), '?')}"

    def fail(self, el, attr, why):
        at = f", attribute {attr!r}" if attr else ""
        raise SpecError(f"{self.where(el)}{at}: {why}")

    def approx(self, el, attr, why):
        """Something the engine cannot represent: an error when strict, else a warning."""
        if self.strict:
            self.fail(el, attr, why + " (load with strict=False to approximate)")
        at = f", attribute {attr!r}" if attr else ""
        self.warnings.append(f"{self.where(el)}{at}: {why}")

    def note(self, el, attr):
        key = (el.tag, attr)
        if key not in self.notes:
            what = f"attribute {attr!r}" if attr else "element"
            self.notes[key] = (f"{el.tag} {what} (first at line {self.lines.get(id(el), '?')}): "
                               "replaced by the engine's own method or only used for rendering")

    # -- attributes: explicit, else the element's default class

    def get(self, el, attr, default=None):
        if attr in el.attrib:
            return el.attrib[attr]
        cls = self.class_of.get(id(el), "main")
        return self.defaults.get(cls, {}).get(el.tag, {}).get(attr, default)

    def floats(self, el, attr, n=None, default=None, at_least=None):
        raw = self.get(el, attr)
        if raw is None:
            if default is None:
                self.fail(el, attr, "missing")
            return list(default)
        try:
            v = [float(x) for x in raw.split()]
        except ValueError:
            self.fail(el, attr, f"expected numbers, got {raw!r}")
        if (n is not None and len(v) != n) or (at_least is not None and len(v) < at_least) or not v:
            self.fail(el, attr, f"expected {n or f'at least {at_least}'} numbers, got {raw!r}")
        if not all(math.isfinite(x) for x in v):
            self.fail(el, attr, f"expected finite numbers, got {raw!r}")
        if any(abs(x) > MAX_MAGNITUDE for x in v):
            self.fail(el, attr, f"expected numbers of magnitude at most {MAX_MAGNITUDE:g} (the engine "
                      f"computes in float32), got {raw!r}")
        return v

    def number(self, el, attr, default):
        return self.floats(el, attr, 1, [default])[0]

    def nonnegative(self, el, attr, default):
        value = self.number(el, attr, default)
        if value < 0:
            self.fail(el, attr, f"expected a number >= 0, got {value}")
        return value

    def boolean(self, el, attr, default):
        raw = self.get(el, attr)
        if raw is None:
            return default
        if raw not in ("true", "false", "auto"):
            self.fail(el, attr, f"expected true, false or auto, got {raw!r}")
        return raw

    def check_attributes(self, el):
        """Every attribute (explicit or from a default class) is handled,
        ignored with a note, or not supported."""
        cls = self.class_of.get(id(el), "main")
        names = set(el.attrib) | set(self.defaults.get(cls, {}).get(el.tag, {}))
        for attr in sorted(names):
            if attr in HANDLED.get(el.tag, ()):
                continue
            if attr in IGNORED.get(el.tag, ()):
                self.note(el, attr)
            else:
                self.approx(el, attr, "attribute not supported by the engine (dropped)")

    def angle(self, value: float) -> float:
        return math.radians(value) if self.degrees else value

    def orientation(self, el) -> np.ndarray:
        """The rotation [3, 3] of an element's frame in its parent's frame."""
        given = [a for a in ("quat", "axisangle", "euler", "xyaxes", "zaxis") if self.get(el, a) is not None]
        if len(given) > 1:
            self.fail(el, given[1], f"only one orientation may be given, got {given}")
        if not given:
            return np.eye(3)
        kind = given[0]
        if kind == "quat":
            q = self.floats(el, kind, 4)
            if np.linalg.norm(q) < 1e-12:
                self.fail(el, kind, "a zero quaternion")
            return _quat_matrix(q)
        if kind == "axisangle":
            v = self.floats(el, kind, 4)
            if np.linalg.norm(v[:3]) < 1e-12:
                self.fail(el, kind, "a zero axis")
            return _axis_angle(v[:3], self.angle(v[3]))
        if kind == "zaxis":
            v = self.floats(el, kind, 3)
            if np.linalg.norm(v) < 1e-12:
                self.fail(el, kind, "a zero axis")
            return _z_to(v)
        if kind == "xyaxes":
            v = np.array(self.floats(el, kind, 6))
            x = v[:3] / max(np.linalg.norm(v[:3]), 1e-300)
            y = v[3:] - (v[3:] @ x) * x
            if np.linalg.norm(v[:3]) < 1e-12 or np.linalg.norm(y) < 1e-12:
                self.fail(el, kind, "x and y must be non-zero and not parallel")
            y /= np.linalg.norm(y)
            return np.column_stack([x, y, np.cross(x, y)])
        angles = self.floats(el, kind, 3)
        r = np.eye(3)
        for axis, a in zip(self.eulerseq, angles):
            step = _axis_angle(np.eye(3)["xyz".index(axis.lower())], self.angle(a))
            r = r @ step if axis.islower() else step @ r
        return r

    def read_defaults(self, el, parent_name, inherited):
        name = el.get("class", "main") if parent_name != "main" or el.get("class") else "main"
        if parent_name != "main" and el.get("class") is None:
            self.fail(el, "class", "a nested <default> needs a class name")
        table = {tag: dict(attrs) for tag, attrs in inherited.items()}
        for child in el:
            if child.tag == "default":
                continue
            table.setdefault(child.tag, {}).update(child.attrib)
        self.defaults[name] = table
        for child in el:
            if child.tag == "default":
                self.read_defaults(child, name, table)

    def read_compiler(self, els):
        self.degrees, self.eulerseq, self.inertia_from_geom = True, "xyz", "auto"
        self.total_mass, self.autolimits = None, True
        for el in els:
            self.check_attributes(el)
            angle = self.get(el, "angle", "degree")
            if angle not in ("degree", "radian"):
                self.fail(el, "angle", f"expected degree or radian, got {angle!r}")
            self.degrees = angle == "degree"
            seq = self.get(el, "eulerseq", "xyz")
            if len(seq) != 3 or any(c not in "xyzXYZ" for c in seq):
                self.fail(el, "eulerseq", f"expected three of xyzXYZ, got {seq!r}")
            self.eulerseq = seq
            self.inertia_from_geom = self.boolean(el, "inertiafromgeom", "auto")
            if self.get(el, "coordinate", "local") != "local":
                self.fail(el, "coordinate", "only local coordinates are supported (MuJoCo 3 "
                          "removed global)")
            if self.get(el, "settotalmass") is not None:
                self.total_mass = self.number(el, "settotalmass", -1.0)
                if self.total_mass <= 0:
                    self.total_mass = None
            self.autolimits = self.boolean(el, "autolimits", "true") == "true"

    def read_option(self, els):
        self.timestep, self.gravity, self.contact_on = 0.002, (0.0, 0.0, -9.81), True
        for el in els:
            self.check_attributes(el)
            self.timestep = self.number(el, "timestep", 0.002)
            if self.timestep <= 0:
                self.fail(el, "timestep", f"expected a positive number, got {self.timestep}")
            self.gravity = tuple(self.floats(el, "gravity", 3, [0.0, 0.0, -9.81]))
            for attr, n in (("density", 1), ("viscosity", 1), ("wind", 3)):
                if any(self.floats(el, attr, n, [0.0] * n)):
                    self.approx(el, attr, "fluid forces are not supported (dropped)")
            for child in el:
                if child.tag != "flag":
                    self.fail(child, None, f"<{child.tag}> is not supported in <option>")
                for attr, value in child.attrib.items():
                    if value not in ("enable", "disable"):
                        self.fail(child, attr, f"expected enable or disable, got {value!r}")
                    if attr == "contact":
                        self.contact_on = value == "enable"
                    elif attr == "gravity" and value == "disable":
                        self.gravity = (0.0, 0.0, 0.0)
                    else:
                        self.note(child, attr)
