"""Train, evaluate and benchmark the relighting network."""
