"""colabs/training.ipynb runs top to bottom at its SMALL sizes, its assert cells included."""


def test_training(run_notebook):
    run_notebook("training")
