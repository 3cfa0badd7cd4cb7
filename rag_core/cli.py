"""The RAG commands of `faqbot`: ingest, versions, search, ask, chat, eval, doctor.

The Slack commands (serve) are added by the bot package; the `faqbot` entry point (faqbot.py,
above both packages) puts them together, so rag_core knows nothing of Slack.
Heavy libraries are imported inside the commands so `faqbot --help` is quick.
Expected failures print one line on stderr and exit non-zero; no tracebacks.
"""

from __future__ import annotations

import argparse
import json
import os
import sys


def _settings(**overrides):
    from .config import load

    return load(**{k: v for k, v in overrides.items() if v is not None})


def _pipeline(**overrides):
    from .pipeline import Pipeline

    return Pipeline(_settings(**overrides))


def _print_json(obj) -> None:
    print(json.dumps(obj, ensure_ascii=False, indent=2))


def cmd_ingest(args) -> int:
    pipe = _pipeline(docs_source=args.source, docs_glob=args.glob)
    report = pipe.ingest(recreate=args.recreate, progress=sys.stderr.isatty(), version=args.version)
    print(report.summary())
    return 0


def cmd_versions(args) -> int:
    from .versions import marks as version_marks

    pipe = _pipeline()
    rows = pipe.version_rows()
    if not rows:
        print("No docs versions are indexed yet: run `faqbot ingest`.")
        return 0
    if args.json:
        _print_json(rows)
        return 0
    print(f"{'version':<9} {'chunks':>6}  {'refreshed':<20}  source @ commit")
    for r in rows:
        marks = ", ".join(version_marks(r))
        print(f"{r['version']:<9} {r['chunks'] or 0:>6}  {r['refreshed'] or '?':<20}  "
              f"{r['source'] or '?'} @ {str(r['commit'] or '?')[:12]}" + (f"  ({marks})" if marks else ""))
    return 0


def cmd_search(args) -> int:
    pipe = _pipeline()
    res = pipe.search(args.question, top_k=args.top_k, mode=args.mode, version=args.version)
    if args.json:
        _print_json(res.to_json())
        return 0
    print(f"mode={res.mode} version={res.version or '-'} confident={res.confident} ({res.ms:.1f} ms)")
    if res.route.note:
        print(f"({res.route.note})")
    for n, hit in enumerate(res.hits, 1):
        print(f"[{n}] {hit.score:.4f}  {hit.title} › {hit.heading}\n    {hit.url}")
    return 0


def _print_answer(ans, streamed: bool = False) -> None:
    if not streamed:
        print(ans.answer)
    else:
        print()
    if ans.note:
        print(f"\n({ans.note})")
    if ans.sources:
        print(f"\nSources (Milvus {ans.version} docs):" if ans.version else "\nSources:")
        for n, s in enumerate(ans.sources, 1):
            print(f"  [{n}] {s['title']} › {s['heading']} — {s['url']}")


def _ask_once(pipe, question: str, history=(), version: str | None = None) -> object:
    stream = sys.stdout.isatty() and pipe.answerer is not None
    ans = pipe.ask(question, history=history, version=version,
                   on_delta=(lambda d: print(d, end="", flush=True)) if stream else None)
    _print_answer(ans, streamed=stream and ans.mode == "gemini")
    return ans


def cmd_ask(args) -> int:
    pipe = _pipeline()
    if args.json:
        _print_json(pipe.ask(args.question, version=args.version).to_json())
        return 0
    _ask_once(pipe, args.question, version=args.version)
    return 0


def cmd_chat(args) -> int:
    from .answer import Turn

    pipe = _pipeline()
    pipe.search("warm up")  # fail early (missing collection, mismatched embedder)
    print("Ask about Milvus (empty line or Ctrl-D to quit).")
    history: list[Turn] = []
    while True:
        try:
            q = input("\nmilvus> ").strip()
        except (EOFError, KeyboardInterrupt):
            print()
            return 0
        if not q:
            return 0
        ans = _ask_once(pipe, q, history)
        history += [Turn("user", q), Turn("assistant", ans.answer)]


def cmd_eval(args) -> int:
    from .evaluate import evaluate, format_table, load_offtopic, load_questions

    pipe = _pipeline()
    questions = load_questions(args.questions)
    offtopic = load_offtopic(args.offtopic) if args.offtopic else None
    modes = [args.mode] if args.mode else (["bm25", "dense", "hybrid"] if pipe.embedder.dim else ["bm25"])
    report = evaluate(pipe, questions, modes, top_k=args.top_k, offtopic=offtopic, version=args.version)
    if args.json:
        _print_json(report)
    else:
        print(format_table(report))
    return 0


def cmd_doctor(args) -> int:
    from .doctor import run_checks

    ok = True
    for status, name, detail in run_checks():
        ok &= status != "FAIL"
        print(f"{status:<4} {name}: {detail}")
    return 0 if ok else 1


VERSION_HELP = "docs version to search (e.g. v2.6.x or latest; default: the one the question names, else the first of FAQBOT_DOCS_VERSIONS)"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="faqbot", description="Milvus docs Q&A: RAG with Milvus + Gemini, and the Slack bot.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser("ingest", help="download, chunk, embed and upsert the docs (incremental)")
    s.add_argument("--source", help="URL, .zip or folder (default FAQBOT_DOCS_SOURCE)")
    s.add_argument("--glob", help="markdown files to index (default FAQBOT_DOCS_GLOB)")
    s.add_argument("--recreate", action="store_true", help="drop and rebuild the collection")
    s.add_argument("--version", help="ingest only this docs version (e.g. v2.6.x; default FAQBOT_DOCS_VERSIONS)")
    s.set_defaults(func=cmd_ingest)

    s = sub.add_parser("versions", help="the indexed docs versions: chunks, source and commit, last refresh")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_versions)

    s = sub.add_parser("search", help="retrieval only")
    s.add_argument("question")
    s.add_argument("--top-k", type=int)
    s.add_argument("--mode", choices=["hybrid", "dense", "bm25"])
    s.add_argument("--version", help=VERSION_HELP)
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_search)

    s = sub.add_parser("ask", help="answer a question as the bot would")
    s.add_argument("question")
    s.add_argument("--version", help=VERSION_HELP)
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_ask)

    s = sub.add_parser("chat", help="interactive question loop in the terminal")
    s.set_defaults(func=cmd_chat)

    s = sub.add_parser("eval", help="recall@1, recall@k and MRR on a questions file")
    s.add_argument("questions", help='JSONL: one {"q", "file", "heading"} per line')
    s.add_argument("--top-k", type=int, default=3)
    s.add_argument("--mode", choices=["hybrid", "dense", "bm25"])
    s.add_argument("--offtopic", metavar="FILE",
                   help='JSONL of questions the docs do not cover ({"q"} per line): report the confidence split')
    s.add_argument("--version", help=VERSION_HELP)
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_eval)

    s = sub.add_parser("doctor", help="check the docs source, Milvus, Gemini and Slack settings")
    s.set_defaults(func=cmd_doctor)
    return p


def subcommands(parser: argparse.ArgumentParser):
    """The parser's sub-command registry, for another package to add its commands to."""
    return next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))


def main(argv: list[str] | None = None, parser: argparse.ArgumentParser | None = None) -> int:
    args = (parser or build_parser()).parse_args(argv)
    from .errors import EXPECTED, describe

    try:
        from dotenv import load_dotenv

        load_dotenv(os.environ.get("FAQBOT_ENV_FILE", ".env"), override=False)
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130
    except EXPECTED as exc:
        print(f"error: {describe(exc)}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
