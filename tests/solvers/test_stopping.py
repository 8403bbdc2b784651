"""The stopping rule of the Gauss-Newton iterations on scripted values."""

import numpy as np
from _helpers import replay_stopping_rule


def test_stopping_rule_measures_gains_from_the_largest_one():
    # The first step gains 0.9, the later ones 0.04, 0.01, 0.005. Against the
    # decrease since the start, 0.04 is already below 10% and a fit stopped at
    # 3; against the decrease since the largest gain (reference 0.1), 0.04
    # improves (it is all of it), 0.01 < 0.25 * (0.1 - 0.05) and
    # 0.005 < 0.25 * (0.1 - 0.045) do not.
    losses = [1.0, 0.1, 0.06, 0.05, 0.045, 0.04]
    assert replay_stopping_rule(losses, tol=0.25, n_iter_no_change=2) == 4
    assert replay_stopping_rule(losses, tol=0.25, n_iter_no_change=1) == 3
    # A later gain larger than the first moves the reference: from 0.1, the
    # gain 0.01 improves, 0.002 < 0.25 * (0.1 - 0.088) and 0.001 do not.
    losses = [1.0, 0.9, 0.1, 0.09, 0.088, 0.087, 0.0865]
    assert replay_stopping_rule(losses, tol=0.25, n_iter_no_change=2) == 5


def test_stopping_rule_is_scale_free_and_needs_a_gain():
    losses = np.array([2.0, 0.5, 0.3, 0.25, 0.24, 0.235, 0.233])
    stops = {
        replay_stopping_rule(scale * losses + shift, 0.25, 2)
        for scale, shift in [(1.0, 0.0), (1e-6, 0.0), (1e6, 3.0)]
    }
    assert stops == {4}
    # Values that do not decrease never improve; tol=0 accepts any gain.
    assert replay_stopping_rule([0.3, 0.3, 0.4, 0.2], tol=0.25, n_iter_no_change=2) == 2
    assert (
        replay_stopping_rule(list(0.5 ** np.arange(30)), tol=0.0, n_iter_no_change=1)
        == 29
    )


def test_stopping_share_keeps_fits_going_while_the_loss_falls_by_a_fraction():
    # After the first gain (1.0, reference 1.0): 0.04 and 0.025 improve, 0.02 <
    # 0.25 * (1.0 - 0.915) and 0.015 < 0.25 * 0.1 do not: stop at 5. With share
    # 0.04, a gain of at least tol * share = 1% of the value also improves:
    # 0.02, 0.015 and 0.012 do, 0.004 (of 0.884) and 0.003 do not: stop at 8.
    losses = [2.0, 1.0, 0.96, 0.935, 0.915, 0.9, 0.888, 0.884, 0.881, 0.879]
    assert replay_stopping_rule(losses, tol=0.25, n_iter_no_change=2) == 5
    assert replay_stopping_rule(losses, 0.25, 2, share=0.04) == 8
    # Still scale-free, and tol=0 still runs to the end.
    scaled = [1e3 * v for v in losses]
    assert replay_stopping_rule(scaled, 0.25, 2, share=0.04) == 8
    assert replay_stopping_rule(losses, 0.0, 2, share=0.04) == len(losses) - 1
