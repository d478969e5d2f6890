"""What fits a network: the training loop, subject-wise splits, normalisation, ImageNet weights."""
