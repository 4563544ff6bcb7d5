"""Local-only code: the embedded AWS emulator runtime, the loopback Slack, benchmarks. Never in a Lambda artifact."""
