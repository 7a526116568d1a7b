"""The `vlm-agent` command line: typer commands on top of training, runtime and the TUI."""
