from __future__ import annotations


def list_components() -> None:
    """Print the registered models, objectives, GAN losses and data sets."""
    from rich.console import Console
    from rich.table import Table

    import pixelsmith.components  # noqa: F401
    import pixelsmith.metrics  # noqa: F401 - registers the metrics
    from pixelsmith.registry import DATASETS, GAN_LOSSES, METRICS, MODELS, OBJECTIVES

    console = Console()
    for title, reg in (("models", MODELS), ("objectives", OBJECTIVES),
                       ("GAN losses", GAN_LOSSES), ("data sets", DATASETS),
                       ("metrics", METRICS)):
        table = Table(title=title, title_justify="left", show_header=False, box=None)
        for entry in reg:
            table.add_row(f"[bold]{entry.name}[/bold]", entry.help)
        console.print(table)
