from __future__ import annotations

import typer


def _figures(card) -> str:
    """The bench figures in one cell: 'Set12 σ15/25/50: 32.9/30.4/27.2' (a generator's:
    'fashion-mnist 10000 samples FID/KID/...: 12.34/0.011/...')."""
    parts = []
    for set_name, row in card.manifest["bench"].get("figures", {}).items():
        keys = list(row)
        parts.append(f"{set_name} {'/'.join(keys)}: "
                     + "/".join(f"{row[k]:.2f}" if abs(row[k]) >= 1 else f"{row[k]:.3g}"
                                for k in keys))
    return "\n".join(parts) or "—"


def models(
    name: str = typer.Argument(None, help="show one model's whole manifest"),
    json_out: bool = typer.Option(False, "--json", help="print the manifests as JSON"),
) -> None:
    """List the trained models that ship with pixelsmith (used by `pixelsmith restore`
    without --checkpoint): task, channels, parameters, weights SHA-256, bench figures and
    the command that trained each one."""
    import json

    from rich.console import Console
    from rich.table import Table

    from pixelsmith.zoo import find_card, list_models

    cards = [find_card(name)] if name else list_models()
    if json_out:
        typer.echo(json.dumps([c.manifest for c in cards], indent=2))
        return
    console = Console()
    if name:
        m = cards[0].manifest
        t = m["training"]
        console.print(f"[bold]{m['name']}[/bold]: {m['summary']}")
        console.print(f"task {m['task']}, {m['channels']} channel(s), scale {m['scale']}, "
                      f"{m['parameters']:,} parameters, weights {m['weights']} "
                      f"({m.get('dtype', '?')}) sha256 {m['sha256']}")
        console.print(f"trained: {t.get('steps')} steps, {t.get('wall_time_s', 0) / 60:.0f} min "
                      f"on {t.get('device')}, torch {t.get('torch')}, data {t.get('data')} "
                      f"(sha256 {str(t.get('data_sha256'))[:16]}…), {t.get('date')}")
        console.print(f"reproduce: {t.get('command')}\nthen:      {t.get('package_command')}",
                      markup=False)
        console.print(f"bench ({m['bench'].get('protocol')}):\n{m['bench'].get('table', '')}",
                      markup=False)
        return
    if not cards:
        typer.echo("no packaged models in this install")
        return
    table = Table(title="packaged models (pixelsmith restore IMAGE --task TASK [--model NAME]; "
                  "generators: pixelsmith sample --model NAME)",
                  title_justify="left", show_lines=True)
    for col in ("name", "task", "ch", "params", "sha256", "bench (dB; generators FID...)"):
        table.add_column(col, overflow="fold")
    for c in cards:
        m = c.manifest
        task = m["task"] + (f" x{m['scale']}" if m["task"] == "sr" else "")
        table.add_row(m["name"] + (" (default)" if c.is_default else ""), task,
                      str(m["channels"]), f"{m['parameters'] / 1e6:.2f}M", m["sha256"][:12] + "…",
                      _figures(c))
    console.print(table)
    for c in cards:
        console.print(f"{c.name}: {c.manifest['training'].get('command', '—')}", markup=False)
    console.print("`pixelsmith models NAME` shows one model's manifest: data checksum, "
                  "device, wall time and the whole bench table.")
