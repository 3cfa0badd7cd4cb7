"""What the tests and the benchmarks share: wire-level fakes of Slack, Gemini and GitHub
(`testkit.fakes`, each a small server on 127.0.0.1 that the real clients talk to) and a harness
that runs the real bot against them (`testkit.bot_harness`). Not shipped: the product is
rag_core/ and bot/; benchmarks import this package, never tests/."""
