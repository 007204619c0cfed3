"""handrecon: 3D hands from single RGB images and videos."""

__version__ = "0.1.0"


def __getattr__(name: str):
    # Lazy so that `import handrecon` stays light (the pipeline imports MediaPipe and torch).
    if name == "HandReconstructor":
        from handrecon.api import HandReconstructor

        return HandReconstructor
    if name == "HandModel":
        from handrecon.hand import HandModel

        return HandModel
    raise AttributeError(name)


__all__ = ["HandModel", "HandReconstructor", "__version__"]
