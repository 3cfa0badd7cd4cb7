"""Milvus docs versions: pure functions, no I/O and no heavy imports.

A docs version is named the way milvus-io/web-content names its folders: "v2.6.x". "latest"
stands for whichever version milvus.io serves as current.
"""

from __future__ import annotations

import re

LATEST = "latest"
_EXPECTED = "expected like v2.6.x or latest"

# "v2.6.x", "2.6", "V2.6.X", "2.6.3": major.minor, an optional patch or "x"
_CONFIGURED = re.compile(r"v?(\d{1,3})\.(\d{1,3})(?:\.(?:x|\d{1,4}))?", re.I)
# a Slack channel id: public (C), private/group (G) or direct message (D)
_CHANNEL = re.compile(r"[CGD][A-Z0-9]{2,}")


def normalise(value: str) -> str:
    """A configured version in the docs folder form: "2.6", "V2.6.X", "2.6.3" -> "v2.6.x"."""
    text = str(value).strip()
    if text.lower() == LATEST:
        return LATEST
    m = _CONFIGURED.fullmatch(text)
    if not m:
        raise ValueError(f"{text!r} is not a docs version: {_EXPECTED}")
    return f"v{int(m.group(1))}.{int(m.group(2))}.x"


def parse_list(value: str) -> list[str]:
    """"latest, v2.6.x" -> ["latest", "v2.6.x"]: normalised, de-duplicated, order kept.

    Nothing configured means ["latest"]. The first entry is the default answer version."""
    out: list[str] = []
    for item in (value or "").split(","):
        if item.strip():
            version = normalise(item)
            if version not in out:
                out.append(version)
    return out or [LATEST]


def parse_channel_map(value: str) -> dict[str, str]:
    """"C0123:v2.5.x, C0456:2.6" -> {"C0123": "v2.5.x", "C0456": "v2.6.x"} (empty -> {}).

    Raises ValueError naming the entry when a channel id does not look like a Slack one, a
    version is not a version, or one channel is given two different versions."""
    out: dict[str, str] = {}
    for entry in (value or "").split(","):
        entry = entry.strip()
        if not entry:
            continue
        channel, sep, version = (part.strip() for part in entry.partition(":"))
        if not sep or not _CHANNEL.fullmatch(channel):
            raise ValueError(f"channel version entry {entry!r}: expected CHANNEL_ID:VERSION "
                             "with a Slack channel id like C0123ABCD, e.g. C0123ABCD:v2.6.x")
        try:
            version = normalise(version)
        except ValueError:
            raise ValueError(f"channel version entry {entry!r}: {version!r} is not a docs "
                             f"version, {_EXPECTED}") from None
        if out.get(channel, version) != version:
            raise ValueError(f"channel version entry {entry!r}: {channel} already maps to {out[channel]}")
        out[channel] = version
    return out


# "2.4.x", "v2.6.x", "v2.4.6": after a separator ("_", "-", "/", start), not inside a longer
# dotted number (dates, IP addresses)
_FOLDER = re.compile(r"(?:^|(?<=[^a-z\d.]))v?(\d{1,2})\.(\d{1,3})(?:\.(?:x|\d{1,3}))?(?!\d|\.\d)", re.I)


def folder_version_from_name(name: str) -> str | None:
    """The version in an archive or folder name: "milvus_docs_2.4.x_en.zip" -> "v2.4.x",
    "docs-v2.6.x" -> "v2.6.x"; None when the name holds no version. The last path segment is
    read first, so ".../download/v2.4.6-preview/milvus_docs_en.zip" still gives "v2.4.x"."""
    text = str(name or "")
    for part in (re.split(r"[/\\]", text)[-1], text):
        found = list(_FOLDER.finditer(part))
        if found:
            m = found[-1]
            return f"v{int(m.group(1))}.{int(m.group(2))}.x"
    return None


def sort_key(version: str) -> tuple:
    """Sort key putting versions newest first: "latest", then v3.0.x, v2.6.x, ..., then
    anything that is not a version (alphabetically)."""
    try:
        norm = normalise(version)
    except ValueError:
        return (2, 0, 0, str(version))
    if norm == LATEST:
        return (0, 0, 0, "")
    major, minor = (int(n) for n in norm[1:-2].split("."))
    return (1, -major, -minor, "")


# ---- the version a question names -----------------------------------------------------------

# "2.5", "v2.5", "2.6.x", "2.5.4": not inside a longer dotted number (IP addresses, dates)
# and not glued to a unit ("2.5M", "1.5x", "2.5%", "2.5GB")
_NUMBER = re.compile(r"(?<![\d.])(\d{1,3})\.(\d{1,3})(?:\.(x|\d{1,3}))?(?![\w%×])(?!\.\d)", re.I)

# the words right before a number that make it Milvus's version
_VERSION_WORDS = {"version", "versions", "ver", "release", "releases", "released", "rel", "v"}
# words between "Milvus" and its version ("Milvus standalone 2.5", "Milvus server v2.4.x")
_NEUTRAL = {"standalone", "cluster", "distributed", "server", "db", "instance", "deployment",
            "is", "was", "the", "our", "my", "a", "an", "still", "now", "currently", "already",
            "just", "only", "latest", "new", "newer", "old", "older", "stable", "current",
            "image", "tag", "==", "=", ":", "@", ">=", "<=", "~="}
_WEAK_CUES = {"on", "in", "running", "upgrade", "upgraded", "upgrading",
              "update", "updated", "updating", "migrate", "migrated", "migrating",
              "downgrade", "downgraded", "downgrading", "deploy", "deployed", "deploying",
              "installed", "install", "installing"}
_MOVE_WORDS = {"upgrade", "upgraded", "upgrading", "upgrades", "update", "updated", "updating",
               "migrate", "migrated", "migrating", "migration", "move", "moved", "moving",
               "switch", "switched", "switching", "downgrade", "downgraded", "downgrading",
               "going", "went", "bump", "bumped", "bumping", "jump", "jumped"}
# other software: a number after one of these is its version, never Milvus's
_TOOLS = {
    "pymilvus", "sdk", "sdks", "client", "python", "python3", "py", "cpython", "pip", "java", "jdk",
    "jre", "go", "golang", "node", "nodejs", "node.js", "npm", "js", "javascript", "typescript",
    "ts", "rust", "cargo", "c#", ".net", "dotnet", "c++", "gcc", "clang", "cmake", "attu",
    "knowhere", "kubernetes", "k8s", "kubectl", "k3s", "eks", "gke", "aks", "helm", "chart",
    "charts", "docker", "compose", "docker-compose", "podman", "operator", "etcd", "minio",
    "pulsar", "kafka", "rocksmq", "woodpecker", "cuda", "cudnn", "nvidia", "driver", "ubuntu",
    "debian", "centos", "rhel", "fedora", "macos", "osx", "ios", "windows", "win", "linux",
    "kernel", "glibc", "openssl", "tls", "ssl", "http", "https", "http/2", "grpc", "protobuf",
    "numpy", "pandas", "torch", "pytorch", "tensorflow", "transformers", "langchain",
    "llamaindex", "llama", "llama-index", "openai", "gpt", "claude", "gemini", "mistral", "qwen",
    "spark", "scala", "flink", "elasticsearch", "opensearch", "postgres", "postgresql",
    "pgvector", "mysql", "redis", "faiss", "hnswlib", "tantivy", "rocksdb", "arrow", "parquet",
    "lite", "milvus-lite", "birdwatcher", "cli", "backup", "cdc", "zilliz", "java-sdk",
    "go-sdk", "node-sdk", "bge", "bert", "m3", "openapi", "swagger", "api", "restful", "grafana",
    "prometheus", "loki", "istio", "nginx", "aws", "ami", "terraform", "ansible", "jupyter",
    "notebook", "colab", "conda", "anaconda", "poetry", "uv", "fastapi", "flask", "django",
    "spring", "springboot", "gradle", "maven", "intel", "amd", "arm", "arm64", "x86", "avx",
    "sse", "neon", "apple", "m1", "m2", "iphone", "android", "chrome", "firefox", "safari",
}
# a word after the number that makes it a quantity, not a version. Only multipliers and units
# of measure: a fractional count of things ("2.5 vectors", "2.5 nodes") makes no sense, so a
# noun after "Milvus 2.5" ("Milvus 2.5 vector search", "2.5 nodes crash") means its version.
_UNITS = {
    "million", "millions", "mil", "mln", "mn", "billion", "billions", "bn", "thousand",
    "thousands", "hundred", "hundreds", "lakh", "crore", "k", "m", "b", "g", "t", "gb", "mb",
    "kb", "tb", "pb", "gib", "mib", "kib", "tib", "gig", "gigs", "gigabyte", "gigabytes",
    "megabyte", "megabytes", "terabyte", "terabytes", "byte", "bytes", "bit", "bits", "%",
    "percent", "pct", "x", "×", "times", "fold", "ms", "msec", "millisecond", "milliseconds",
    "us", "µs", "ns", "s", "sec", "secs", "second", "seconds", "min", "mins", "minute",
    "minutes", "h", "hr", "hrs", "hour", "hours", "day", "days", "week", "weeks", "month",
    "months", "year", "years", "qps", "tps", "rps", "ghz", "mhz", "hz", "dollars", "usd", "eur",
    "cents", "degrees", "meters", "km", "miles",
}
_WORD = re.compile(r"[a-z0-9][a-z0-9+#]*(?:[./_-][a-z0-9+#]+)*|[=:@]+|[<>~]=", re.I)
# where a clause ends: a version named before it is not cued by words after it
_CLAUSE_END = re.compile(r"[!?;,()\[\]\n|]|\.(?:\s|$)|\s[-–—]\s")


def _cue(before: str) -> str | None:
    """What the text just before a number says about it: "milvus" (a Milvus version),
    "version" (a version word), "weak" (on, in, upgrade to, ...), "tool" (another product's
    version) or None (nothing that marks a version)."""
    clause = _CLAUSE_END.split(before)[-1].lower()
    glued = re.search(r"[a-z]+$", clause)  # "milvus2.5", "v2.5", "python3.11"
    words = _WORD.findall(clause[: glued.start()] if glued else clause)
    found = None
    if glued:
        token = glued.group(0)
        if token in ("milvus", "milvusv"):
            return "milvus"
        if token != "v":
            return "tool"  # "gpt3.5", "k1.2", "abc2.5": glued to something else
        found = "version"
    seen = 0
    for n, word in enumerate(reversed(words)):
        if word in _VERSION_WORDS:
            found = found or "version"
            continue
        if word == "milvus" or (word.startswith("milvus") and word[6:] in ("db/milvus", "io/milvus")):
            return "milvus"
        if word in _TOOLS or word.endswith("milvus") or word.startswith(("milvus-", "milvus_")):
            return "tool"  # pymilvus, milvus-sdk-java, milvus_cli, milvus-lite ...
        if word in _NEUTRAL and seen < 3:
            seen += 1
            continue
        if found:
            return found  # "version 2.5" after an unrelated word
        if word in ("to", "from"):
            # "upgrade to 2.6", "upgrading from 2.5 to 2.6" -- never "set ef to 2.5"
            for earlier in list(reversed(words))[n + 1 : n + 7]:
                if earlier in _TOOLS or earlier.endswith("milvus") and earlier != "milvus":
                    return "tool"
                if earlier in _MOVE_WORDS:
                    return "weak"
            return None
        return "weak" if word in _WEAK_CUES else None
    return found


def mentioned_version(question: str) -> str | None:
    """The Milvus version a question names, as "vX.Y.x", or None.

    A number counts when the words right before it make it Milvus's version: "Milvus 2.6.3",
    "milvus2.5", "version 2.5", "v2.4", "on 2.5", "in 2.5", "upgrade to 2.6"; a patch number
    or ".x" ("2.6.x", "2.5.4") also counts on its own. It never counts after another product's
    name ("pymilvus 2.5.4", "python 3.11", "helm chart 4.1"), when a unit follows ("2.5 million",
    "2.5 GB", "3.0 seconds") or glued to one ("2.5M", "1.5x", "2.5%"), inside a longer dotted
    number (IP addresses, dates), nor after plain words ("score 2.5", "k1 = 1.2", "ef 2.5").
    Majors 2 and 3 count; major 1 ("Milvus 1.1") and a minor over 9 need "Milvus" itself.
    "to"/"from" count only after a verb like upgrade/migrate/move ("set ef to 2.5" is no
    version). When several versions are named ("upgrading from 2.5 to 2.6") the first one
    counts: it is usually the version the asker runs today, whose docs describe what they
    see. False positives route a question to the wrong docs, so when in doubt this says None.
    """
    text = str(question or "")
    for m in _NUMBER.finditer(text):
        major, minor, patch = int(m.group(1)), int(m.group(2)), m.group(3)
        after = re.match(r"[\s-]*([a-zµ%×]+)", text[m.end() : m.end() + 20], re.I)
        if after and after.group(1).lower() in _UNITS:
            continue
        cue = _cue(text[max(0, m.start() - 80) : m.start()])
        if cue == "tool":
            continue
        if cue is None and patch is None:
            continue  # a bare "2.5" after nothing that marks a version
        if cue == "weak" and patch is None and re.match(r"\s*[-–~]\s*\d", text[m.end() :]):
            continue  # "in 2.5-3.0 ms": a range
        if major not in ((1, 2, 3) if cue == "milvus" else (2, 3)):
            continue
        if minor > 9 and cue != "milvus":
            continue  # "3.11", "3.12": Python, not Milvus
        return f"v{major}.{minor}.x"
    return None


def without_version(question: str, version: str) -> str:
    """The question with the mentions of `version` ("2.4", "v2.4.x", "2.4.11") taken out: once a
    question is routed to that version's docs, the number only pulls in release notes."""
    try:
        major, minor = normalise(version)[1:-2].split(".")
    except ValueError:
        return question
    pattern = rf"(?<![\w.])[vV]?{major}\.{minor}(?:\.(?:\d+|[xX]))?(?![\w.]*\d)"
    return re.sub(r"\s{2,}", " ", re.sub(pattern, " ", question)).strip()


def marks(row: dict) -> list[str]:
    """What a version row is, in words: current on milvus.io, the default (`faqbot versions`, App Home)."""
    return [m for m, on in (("current on milvus.io", row.get("current")), ("default", row.get("default"))) if on]
