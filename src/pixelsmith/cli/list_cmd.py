from __future__ import annotations


def list_components() -> None:
    """Print every registry: models, objectives, losses, data sets, metrics, degradations,
    masks, classical baselines and diffusion samplers."""
    from rich.console import Console
    from rich.table import Table

    import pixelsmith.components  # noqa: F401 - fills every registry
    from pixelsmith.registry import (
        BASELINES,
        DATASETS,
        DEGRADATIONS,
        GAN_LOSSES,
        MASKS,
        METRICS,
        MODELS,
        OBJECTIVES,
        SAMPLERS,
    )

    console = Console()
    for title, reg in (("models", MODELS), ("objectives", OBJECTIVES),
                       ("GAN losses", GAN_LOSSES), ("data sets", DATASETS),
                       ("metrics", METRICS), ("degradations", DEGRADATIONS),
                       ("masks", MASKS), ("classical baselines", BASELINES),
                       ("diffusion samplers", SAMPLERS)):
        if not list(reg):
            continue
        table = Table(title=title, title_justify="left", show_header=False, box=None)
        for entry in reg:
            table.add_row(f"[bold]{entry.name}[/bold]", entry.help)
        console.print(table)
