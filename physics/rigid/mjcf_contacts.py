"""MJCF import, part 4: which geoms collide (MuJoCo's contype/conaffinity
rule, `<contact><exclude>`) as the engine's body pairs, and one friction
(`ContactReader`, a mixin of `mjcf._Reader`). See `mjcf.py`.
"""

from __future__ import annotations

import numpy as np

from gambol.physics.rigid.mjcf_bodies import _collider_kind
from gambol.physics.rigid.system import PAIR_KINDS


class ContactReader:
    """Collision filtering."""

    # -- collisions ---------------------------------------------------------------------

    def collisions(self, contact_els):
        group_of = {}
        for g in self.groups:
            for geom in g.geoms:
                group_of[geom.index] = g
        excluded = set()
        for block in contact_els:
            for el in block:
                if el.tag != "exclude":
                    self.approx(el, None, f"<contact><{el.tag}> is not supported (dropped)")
                    continue
                pair = []
                for attr in ("body1", "body2"):
                    name = el.get(attr)
                    if name not in self.mjcf_bodies:
                        self.fail(el, attr, f"no body named {name!r}")
                    pair.append(self.mjcf_bodies[name].name)
                excluded.add(frozenset(pair))
        jointed = {frozenset((g.name, g.parent.name)) for g in self.groups if g.joint is not None}
        allowed: dict = {}     # body pair -> list of (geom, geom)
        for a, ga in enumerate(self.all_geoms):
            for gb in self.all_geoms[a + 1:]:
                A, B = group_of[ga.index], group_of[gb.index]
                if A is B or A.kind == "world" and B.kind == "world":
                    continue
                if not (ga.contype & gb.conaffinity or gb.contype & ga.conaffinity):
                    continue
                pair = frozenset((A.name, B.name))
                if pair in excluded:
                    continue
                if pair in jointed:
                    if self.world.name in pair:
                        self.approx(gb.el, "contype", f"geoms {ga.el.get('name')!r} and "
                                    f"{gb.el.get('name')!r} collide in MuJoCo, but a body never "
                                    f"collides with its joint's parent here (dropped)")
                    continue
                allowed.setdefault(pair, []).append((ga, gb))
        colliders, include, frictions = {}, [], []
        for pair, geom_pairs in allowed.items():
            kinds_ok = True
            for ga, gb in geom_pairs:
                ka, kb = (_collider_kind(g.kind) for g in (ga, gb))
                if (ka, kb) not in PAIR_KINDS and (kb, ka) not in PAIR_KINDS:
                    self.approx(gb.el, "type", f"{ka}-{kb} contacts (with {self.where(ga.el)}) "
                                "have no contact model (the body pair is dropped)")
                    kinds_ok = False
            if not kinds_ok:
                continue
            include.append(tuple(sorted(pair)))
            for ga, gb in geom_pairs:
                colliders.setdefault(ga, None)
                colliders.setdefault(gb, None)
                frictions.append(max(ga.friction, gb.friction))
        # the engine pairs all colliders of an included body pair: MuJoCo must agree
        for pair in include:
            members = [g for g in colliders if group_of[g.index].name in pair]
            for ga in members:
                for gb in members:
                    if ga.index < gb.index and group_of[ga.index] is not group_of[gb.index]:
                        if (ga, gb) not in allowed[frozenset(pair)]:
                            self.approx(gb.el, "contype", f"collides with {self.where(ga.el)} here "
                                        "but not in MuJoCo (the engine filters by body pair)")
        friction = 1.0
        if frictions:
            friction = float(np.mean(frictions))
            if max(frictions) - min(frictions) > 1e-12:
                self.approx(self.root, "friction", f"contact pairs differ in friction "
                            f"({sorted(set(frictions))}); the engine has one (their mean, "
                            f"{friction:.4g})")
        return tuple(sorted(include)), friction, colliders
