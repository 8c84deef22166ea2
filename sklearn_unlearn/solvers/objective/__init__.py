"""The training objective of a linear model: its design (features and
intercept), its value, gradient and Hessian blocks, the matrix-free products
with them, and the affine changes of the features it can take."""
