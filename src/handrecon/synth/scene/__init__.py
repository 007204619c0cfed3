"""What a synthetic sample shows: hand poses and gesture/grasp shapes, two-hand placements, cameras,
forearms and occluders, drawn for one sample index by `sampler.SceneSampler` into a `sampler.Scene`."""
