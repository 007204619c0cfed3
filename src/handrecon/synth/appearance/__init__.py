"""How a synthetic sample looks: skin albedo textures and their shading, lighting, backgrounds and camera
effects (defocus, motion blur, noise, JPEG)."""
