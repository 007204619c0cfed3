"""The test-time pipeline: detection, uncertainty, 3D fitting, texture, results and their files."""
