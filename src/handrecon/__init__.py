"""handrecon: 3D hands from single RGB images and videos."""

__version__ = "0.1.0"
