"""The stopping rule of the Gauss-Newton iterations on scripted values."""

import numpy as np
from _helpers import replay_stopping_rule

from sklearn_sublinear._network._losses import LOG_SHARE_ABOVE, LOG_STOPPING_SHARE


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


def test_log_loss_share_goes_on_while_the_loss_falls_by_a_fraction_of_itself():
    # Overlapping classes: after the first gain (0.2, reference 0.8) the gains
    # 0.04 and 0.02 improve, 0.01 < 0.25 * (0.8 - 0.73) and 0.008 do not:
    # stop at 5. With the log losses' share (0.04, above half the start), a
    # gain of 1% of the value also improves: 0.01 (of 0.73) and 0.008 (of
    # 0.722) do, 0.006 (of 0.716) and 0.0015 do not: stop at 7.
    losses = [1.0, 0.8, 0.76, 0.74, 0.73, 0.722, 0.716, 0.7145, 0.7135]
    share = LOG_STOPPING_SHARE
    assert replay_stopping_rule(losses, 0.25, 2) == 5
    assert replay_stopping_rule(losses, 0.25, 2, share, LOG_SHARE_ABOVE) == 7
    # Below share_above times the start the share no longer counts.
    assert replay_stopping_rule(losses, 0.25, 2, share, share_above=0.8) == 5


def test_log_loss_share_stops_separable_fits_early():
    # Separated classes: the loss halves at every step. Against the largest
    # gain (0.5), the gains fall below tol of the refinement once the value is
    # below 0.1: stop at 5. A share alone would count every halving as an
    # improvement and run to the end; below half the start it no longer
    # counts, so the fit stops where it did without it.
    losses = list(0.5 ** np.arange(12))
    share = LOG_STOPPING_SHARE
    assert replay_stopping_rule(losses, 0.25, 2) == 5
    assert replay_stopping_rule(losses, 0.25, 2, share) == len(losses) - 1
    assert replay_stopping_rule(losses, 0.25, 2, share, LOG_SHARE_ABOVE) == 5
