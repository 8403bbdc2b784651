"""The stopping rule of the Gauss-Newton iterations."""


class StoppingRule:
    """Patience test on the training loss or the validation error.

    Fed the quantity to minimize after every iteration, starting from its value
    before the first one. An iteration *improves* when it lowers the best value
    so far by ``gain > 0`` with ``gain >= tol * (reference - value)``, where
    ``reference`` is the best value right after the largest gain so far (the
    iteration of that gain improves by definition). The fit stops after
    ``n_iter_no_change`` consecutive iterations that do not improve.

    From a random start one Gauss-Newton step (usually the first, which fits
    the linearized network) makes a decrease far larger than all later ones.
    Measured from the start, every later gain looks negligible and such fits
    stopped right after that step; measured from the largest gain, the
    refinement that follows is judged on its own scale. The test is
    scale-free (the same for every loss and target scale), stops fits whose
    loss falls geometrically once each step gains little compared with the
    refinement achieved so far, and depends on the sample weights only through
    weighted means, so integer weights stop exactly as repeated rows.

    Parameters
    ----------
    tol : float
        Minimum gain relative to the decrease since the largest gain.
    n_iter_no_change : int
        Consecutive iterations without improvement that stop the fit.
    start : float
        Value before the first iteration.
    share : float, default=None
        If given, an iteration also improves when ``gain >= tol * share *
        value`` (the value is non-negative: a deviance or a validation
        error). For losses whose Gauss-Newton steps converge slowly (the
        Poisson loss: ``stopping_share`` of the loss), so that a fit goes on
        while each step still lowers the loss by a fixed fraction of itself.
    share_above : float, default=None
        If given, the share counts only while ``value >= share_above *
        start``: the log losses, whose loss on separated classes falls
        geometrically towards zero, where a share would never stop the fit.
    """

    def __init__(self, tol, n_iter_no_change, start, share=None, share_above=None):
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.share = share
        self.share_floor = None if share_above is None else share_above * start
        self.best = self.reference = start
        self.largest_gain = 0.0
        self.no_improvement = 0

    def update(self, value):
        """Record one iteration's value; return True when the fit should stop."""
        gain = self.best - value
        if gain > self.largest_gain:
            self.largest_gain, self.reference = gain, value
        scale = self.reference - value
        if self._share_counts(value):
            scale = min(scale, self.share * max(value, 0.0))
        if gain > 0 and gain >= self.tol * scale:
            self.no_improvement = 0
        else:
            self.no_improvement += 1
        self.best = min(self.best, value)
        return self.no_improvement >= self.n_iter_no_change

    def _share_counts(self, value):
        """Whether the share applies at ``value`` (``share_above``)."""
        if self.share is None:
            return False
        return self.share_floor is None or value >= self.share_floor
