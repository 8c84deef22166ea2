"""What a fit computes for the cache: the polish from the parent's solution
to the optimum, the sums over the training rows (in memory or chunk by
chunk), and Newton's method over chunks of rows."""
