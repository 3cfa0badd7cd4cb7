"""What the tests and the benchmarks share: wire-level fakes of Slack, Gemini and GitHub
(`testkit.fakes`, each a small server on 127.0.0.1 that the real clients talk to), a harness
that runs the real bot against them (`testkit.bot_harness`), and real servers to run it on: a
throwaway PostgreSQL (`testkit.pg_server`) and a Milvus server (`testkit.milvus_server`). Not
shipped: the product is rag_core/ and bot/; benchmarks import this package, never tests/."""
