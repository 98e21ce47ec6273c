"""Train, evaluate and benchmark learned blending for novel views and render 1 in N."""
