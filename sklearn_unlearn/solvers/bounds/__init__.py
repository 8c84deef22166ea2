"""The residual bound: a request's increment, the drift of the cached
Hessian's rows since they entered it, and the worst-case rounding of every
quantity the bound is computed from."""
