"""pixelsmith: make images and mend them.

    import pixelsmith
    r = pixelsmith.load_pretrained("denoise-gray")   # a packaged model (`pixelsmith models`)
"""

__version__ = "0.1.0"


def __getattr__(name: str):
    # lazy: `import pixelsmith` stays cheap (no torch) until a model is asked for
    if name in ("load_pretrained", "list_models"):
        from pixelsmith import zoo

        return getattr(zoo, name)
    raise AttributeError(f"module 'pixelsmith' has no attribute {name!r}")
