"""Fine-tuning with k-fold selection on synthetic data, the training grid, baselines, the static student."""
