"""colabs/rigid_bodies.ipynb runs top to bottom at its SMALL sizes, its assert cells included."""


def test_rigid_bodies(run_notebook):
    run_notebook("rigid_bodies")
