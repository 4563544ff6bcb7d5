"""The `dockhand` command: validate the declarations, plan a push, jobs, holds, history, and the local runtime."""
