"""Hessian storage: the dense factored Hessian and the Gram matrices of the
bound with the row changes of requests (kept pending, folded, formed as
columns), the low-rank Hessian of wide models and its sketch, the side each
row entered on, and the cubic term kept beside the Hessian."""
