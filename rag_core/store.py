"""The Milvus collection: schema, idempotent upsert, and search.

Uses only what Milvus Lite, Milvus server and Zilliz Cloud all accept: a
VARCHAR primary key, the built-in BM25 function into a sparse vector with the
BM25 sparse index, and an optional dense FLOAT_VECTOR with AUTOINDEX/COSINE.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
from dataclasses import dataclass
from typing import Iterable, Sequence

from .coalesce import Coalescer

log = logging.getLogger(__name__)

# 2: second BM25 field over the headings (`bm25_head` -> `sparse_head`)
# 3: docs `version` on every chunk, `ehash` (embedding text hash), versions record in the properties
# 4: one partition per docs version (`partition_of`)
SCHEMA_VERSION = "4"
PROP_EMBEDDER = "faqbot.embedder"
PROP_DIM = "faqbot.dim"
PROP_SCHEMA = "faqbot.schema"
PROP_VERSIONS = "faqbot.versions"
PROP_LATE = "faqbot.late"  # the `late` field's format (rag_core.late.FORMAT), when the collection has one
OUTPUT_FIELDS = ["id", "text", "title", "heading", "source", "url", "version"]

# VARCHAR limits are in bytes
_LIMITS = {"id": 64, "loc": 2048, "title": 512, "heading": 2048, "source": 1024, "url": 2048,
           "text": 16384, "bm25_text": 32768, "bm25_head": 4096, "version": 32, "ehash": 64, "late": 65535}


class StoreError(Exception):
    """A Milvus problem phrased for operators (names the setting to fix)."""


class StoreUnavailable(StoreError):
    pass


class StoreLocked(StoreUnavailable):
    pass


class EmbedderMismatch(StoreError):
    pass


@dataclass
class Hit:
    id: str
    text: str
    title: str
    heading: str
    source: str
    url: str
    score: float
    version: str = ""
    complete: bool = True  # False: only id and score are known (Pipeline.fuse reads the rest)

    def to_json(self) -> dict:
        return {"id": self.id, "text": self.text, "title": self.title, "heading": self.heading,
                "source": self.source, "url": self.url, "version": self.version,
                "score": round(float(self.score), 6)}


def stub_hit(chunk_id: str, score: float, version: str | None) -> Hit:
    """A hit known by its id and score only (found by rag_core.headings, not by a Milvus search)."""
    return Hit(id=chunk_id, text="", title="", heading="", source="", url="", score=score,
               version=version or "", complete=False)


def version_filter(version: str | None) -> str:
    """Milvus boolean expression selecting one docs version ('' = all)."""
    return f"version == {json.dumps(version)}" if version else ""


def partition_of(version: str | None) -> str:
    """The Milvus partition holding one docs version's chunks. A search of one version reads only
    its partition: on Milvus Lite, with three versions indexed, faster than a version filter over
    the whole collection (`python -m benchmarks.bench_versions`: bm25_filtered vs bm25_filter_only).
    Partition names take letters, digits and underscores."""
    if not version:
        return "_default"
    name = re.sub(r"[^0-9A-Za-z_]", "_", version)
    return name if name[0].isalpha() or name[0] == "_" else f"v_{name}"


def _where(version: str | None) -> dict:
    """Search/query arguments selecting one docs version: its partition, and the version filter as
    well — Milvus Lite's `count(*)` ignores `partition_names` (it counted all five rows of a
    two-version collection for one version); inside the partition the filter costs nothing."""
    return {"filter": version_filter(version), "partition_names": [partition_of(version)] if version else None}


def _embedding_fields(row: dict, fields: Sequence[str]) -> dict:
    return {f: [float(x) for x in row[f]] if f == "dense" else row[f] for f in fields}


def _fit(value: str, field: str) -> str:
    raw = value.encode("utf-8")
    limit = _LIMITS[field]
    if len(raw) <= limit:
        return value
    return raw[:limit].decode("utf-8", "ignore")


def _import_pymilvus():
    """Import pymilvus without its import-time read of MILVUS_URI.

    pymilvus parses the MILVUS_URI environment variable when it is first
    imported and raises "Illegal uri" for anything but http(s)://host:port, so
    a Milvus Lite path in MILVUS_URI (our own setting) would break the import.
    """
    import sys

    if "pymilvus" in sys.modules:
        return sys.modules["pymilvus"]
    saved = os.environ.get("MILVUS_URI")
    if saved is not None and "://" not in saved:
        os.environ.pop("MILVUS_URI")
    try:
        import pymilvus

        return pymilvus
    finally:
        if saved is not None:
            os.environ["MILVUS_URI"] = saved


_SCIPY_CHECK = threading.Lock()


def _check_scipy_once() -> None:
    """Run pymilvus's one-time "is scipy installed?" check on one thread, before any search.

    pymilvus (2.6) runs that check on the first insert or search, and it executes scipy.sparse's
    package code outside the import lock: two threads that search at once (the warm-up and a first
    question) can see a half-imported scipy module and the search fails with "partially
    initialized module 'scipy.sparse._lil'". Importing scipy.sparse fully here first, then letting
    the check run, leaves the later calls nothing to race over."""
    with _SCIPY_CHECK:
        try:
            import scipy.sparse  # noqa: F401 — complete, in sys.modules, before pymilvus re-executes it
        except ImportError:
            pass
        try:
            from pymilvus.client.utils import SciPyHelper

            SciPyHelper.is_scipy_sparse(None)
        except (ImportError, AttributeError):  # a pymilvus without the helper: nothing to race over
            pass


def quiet_client_logs() -> None:
    """pymilvus logs every RPC error with a traceback; we report errors ourselves."""
    level = logging.DEBUG if os.environ.get("FAQBOT_DEBUG") else logging.CRITICAL
    for name in ("pymilvus", "milvus_lite", "grpc._server"):
        logging.getLogger(name).setLevel(level)
    logging.getLogger("faiss").setLevel(max(level, logging.WARNING))  # milvus-lite's index library


def _locked_message(uri: str) -> str:
    return (
        f"The Milvus Lite file {uri} is open in another process (probably the running bot). "
        "Stop the bot first, or point MILVUS_URI at a Milvus server, or let the bot re-index "
        "itself with FAQBOT_REINDEX_INTERVAL."
    )


class MilvusStore:
    def __init__(self, uri: str, token: str = "", collection: str = "milvus_faq", timeout: float = 10.0):
        self.uri = uri
        self.token = token
        self.collection = collection
        self.timeout = timeout
        self._client = None
        self._lock = threading.Lock()
        self._loaded = False
        self._searches = Coalescer()  # concurrent searches of one shape: one call with nq queries
        self._partitions: set[str] | None = None  # partition names, read once (upsert adds)

    # ---- connection ---------------------------------------------------------------
    @property
    def is_local(self) -> bool:
        return "://" not in self.uri

    def client(self):
        if self._client is None:
            with self._lock:
                if self._client is None:
                    self._client = self._connect()
        return self._client

    def _connect(self):
        _import_pymilvus()
        _check_scipy_once()
        from pymilvus import MilvusClient
        from pymilvus.exceptions import MilvusException

        quiet_client_logs()
        noisy = logging.getLogger("milvus_lite.server_manager")
        was_disabled = noisy.disabled
        noisy.disabled = True  # it logs a traceback for a locked file; we say it better
        try:
            return MilvusClient(uri=self.uri, token=self.token or "", timeout=self.timeout)
        except MilvusException as exc:
            msg = getattr(exc, "message", "") or str(exc)
            if self.is_local and "Open local milvus failed" in msg:
                raise StoreLocked(_locked_message(self.uri)) from None
            raise StoreUnavailable(
                f"Cannot reach Milvus at MILVUS_URI={self.uri} ({msg}). "
                "Check that the server is running and MILVUS_URI/MILVUS_TOKEN are right."
            ) from None
        except Exception as exc:
            raise StoreUnavailable(
                f"Cannot open Milvus at MILVUS_URI={self.uri} ({type(exc).__name__}: {exc})."[:400]
            ) from None
        finally:
            noisy.disabled = was_disabled

    def close(self):
        """Close the connection; for a Milvus Lite file also stop its in-process server, so
        that another process (e.g. the bot's answer process) can open the file."""
        if self._client is not None:
            try:
                self._client.close()
            except Exception:
                pass
            self._client = None
            self._loaded = False
            if self.is_local:
                try:
                    from milvus_lite.server_manager import server_manager_instance

                    server_manager_instance.release_server(self.uri)
                except Exception as exc:  # an older milvus-lite: the file is freed at exit
                    log.debug("could not release the Milvus Lite server: %s", exc)

    def _call(self, fn, *args, **kwargs):
        """Run a client call. A dropped connection is reopened and the call tried once more
        (a restarted server leaves the old channel dead); then StoreUnavailable."""
        try:
            return self._call_once(fn, *args, **kwargs)
        except StoreLocked:
            raise
        except StoreUnavailable:
            time.sleep(0.25)
            return self._call_once(fn, *args, **kwargs)

    def _call_once(self, fn, *args, **kwargs):
        _import_pymilvus()
        from pymilvus.exceptions import MilvusException

        try:
            return fn(self.client(), *args, **kwargs)
        except StoreError:
            raise
        except MilvusException as exc:
            msg = getattr(exc, "message", "") or str(exc)
            if any(s in msg.lower() for s in ("unavailable", "connect", "deadline", "closed", "timeout")):
                self.close()
                raise StoreUnavailable(f"Milvus at MILVUS_URI={self.uri} is not answering ({msg}).") from None
            raise StoreError(f"Milvus error on collection {self.collection}: {msg}") from None
        except Exception as exc:  # grpc errors, broken sockets
            self.close()
            raise StoreUnavailable(
                f"Milvus at MILVUS_URI={self.uri} is not answering ({type(exc).__name__}: {exc})."[:400]
            ) from None

    def ping(self) -> None:
        self._call(lambda c: c.list_collections())

    # ---- schema -------------------------------------------------------------------
    def exists(self) -> bool:
        return bool(self._call(lambda c: c.has_collection(self.collection)))

    def properties(self) -> dict:
        desc = self._call(lambda c: c.describe_collection(self.collection))
        return dict(desc.get("properties") or {})

    def recorded_embedder(self, props: dict | None = None) -> tuple[str, int] | None:
        if props is None:
            if not self.exists():
                return None
            props = self.properties()
        if PROP_EMBEDDER not in props:
            return None
        return props[PROP_EMBEDDER], int(props.get(PROP_DIM, 0) or 0)

    def check_embedder(self, name: str, dim: int, must_exist: bool = False) -> None:
        if not self.exists():
            if must_exist:
                raise StoreError(f"Collection {self.collection!r} does not exist at MILVUS_URI={self.uri}: "
                                 "run `faqbot ingest` first.")
            return
        props = self.properties()  # one read for the embedder and the schema
        recorded = self.recorded_embedder(props)
        if recorded is None:
            return
        schema = props.get(PROP_SCHEMA, "1")
        if schema != SCHEMA_VERSION:
            raise EmbedderMismatch(
                f"Collection {self.collection!r} was built by an older faqbot (schema {schema}, now "
                f"{SCHEMA_VERSION}: a partition per docs version). Re-run `faqbot ingest --recreate`.")
        if recorded != (name, dim):
            raise EmbedderMismatch(
                f"Collection {self.collection!r} was built with embedder {recorded[0]} "
                f"({recorded[1]} dims) but FAQBOT_EMBEDDER is now {name} ({dim} dims). "
                "Re-run `faqbot ingest --recreate` (or set FAQBOT_EMBEDDER back)."
            )

    def drop(self) -> None:
        if self.exists():
            self._call(lambda c: c.drop_collection(self.collection))
        self._loaded = False
        self._partitions = None

    def create(self, embedder_name: str, dim: int, bm25_k1: float | None = None,
               bm25_b: float | None = None, late: str = "") -> None:
        """`late`: rag_core.late.FORMAT to give every chunk a `late` field (the local model's
        word-piece vectors), or "" for none."""
        _import_pymilvus()
        from pymilvus import DataType, Function, FunctionType

        def make(c):
            schema = c.create_schema(auto_id=False, enable_dynamic_field=False)
            schema.add_field("id", DataType.VARCHAR, is_primary=True, max_length=_LIMITS["id"])
            schema.add_field("loc", DataType.VARCHAR, max_length=_LIMITS["loc"])
            for name in ("title", "heading", "source", "url", "text", "ehash"):
                schema.add_field(name, DataType.VARCHAR, max_length=_LIMITS[name])
            schema.add_field("version", DataType.VARCHAR, max_length=_LIMITS["version"])
            index = c.prepare_index_params()
            sparse_params = {"inverted_index_algo": "DAAT_MAXSCORE"}
            if bm25_k1 is not None:
                sparse_params["bm25_k1"] = float(bm25_k1)
            if bm25_b is not None:
                sparse_params["bm25_b"] = float(bm25_b)
            # two BM25 fields: the whole chunk, and its headings alone (a question that
            # echoes an FAQ heading should not be diluted by a long answer)
            for text_field, sparse_field in (("bm25_text", "sparse"), ("bm25_head", "sparse_head")):
                schema.add_field(
                    text_field, DataType.VARCHAR, max_length=_LIMITS[text_field],
                    enable_analyzer=True, analyzer_params={"tokenizer": "standard", "filter": ["lowercase"]},
                )
                schema.add_field(sparse_field, DataType.SPARSE_FLOAT_VECTOR)
                schema.add_function(Function(
                    name=f"bm25_{sparse_field}", function_type=FunctionType.BM25,
                    input_field_names=[text_field], output_field_names=[sparse_field],
                ))
                index.add_index(sparse_field, index_type="SPARSE_INVERTED_INDEX", metric_type="BM25",
                                params=sparse_params)
            if dim > 0:
                schema.add_field("dense", DataType.FLOAT_VECTOR, dim=dim)
                index.add_index("dense", index_type="AUTOINDEX", metric_type="COSINE")
            props = {PROP_EMBEDDER: embedder_name, PROP_DIM: str(dim), PROP_SCHEMA: SCHEMA_VERSION}
            if late and dim > 0:
                schema.add_field("late", DataType.VARCHAR, max_length=_LIMITS["late"])
                props[PROP_LATE] = late
            c.create_collection(self.collection, schema=schema, index_params=index, properties=props)

        self._call(make)
        self._loaded = False
        self._partitions = None

    def late_format(self) -> str:
        """The format of the collection's `late` field ("" without one: built before it existed,
        or not with the local model)."""
        return self.properties().get(PROP_LATE, "") if self.exists() else ""

    def has_dense(self) -> bool:
        recorded = self.recorded_embedder()
        return bool(recorded and recorded[1] > 0)

    # ---- data ---------------------------------------------------------------------
    def count(self, version: str | None = None) -> int:
        if not self.exists():
            return 0
        self._ensure_loaded()
        if version and not self.has_partition(version):
            return 0
        res = self._call(lambda c: c.query(self.collection, output_fields=["count(*)"], **_where(version)))
        return int(res[0]["count(*)"]) if res else 0

    def rows(self, version: str | None = None) -> dict[str, tuple[str, str]]:
        """id -> (location, embedding-text hash) of every stored chunk (of one version)."""
        return {row["id"]: (row["loc"], row["ehash"]) for row in self._scan(version, ["id", "loc", "ehash"])}

    def head_rows(self, version: str | None = None) -> list[tuple[str, str, str, str, str]]:
        """(id, analysed headings, title, heading, source) of every stored chunk (of one version):
        rag_core.headings' index and rag_core.rerank's facts."""
        fields = ["id", "bm25_head", "title", "heading", "source"]
        return [tuple(row[f] for f in fields) for row in self._scan(version, fields)]

    def get_hits(self, ids: Sequence[str]) -> dict[str, Hit]:
        """The stored chunks with these ids (score 0), by id; ids no longer stored are missing."""
        if not ids:
            return {}
        self._ensure_loaded()
        rows = self._call(lambda c: c.get(self.collection, ids=list(ids), output_fields=OUTPUT_FIELDS))
        return {h.id: h for h in self._hits([[{"id": r["id"], "entity": r} for r in rows]])}

    def _scan(self, version: str | None, fields: list[str]) -> list[dict]:
        if not self.exists() or (version and not self.has_partition(version)):
            return []
        self._ensure_loaded()

        def scan(c):
            out = []
            it = c.query_iterator(self.collection, batch_size=1000, output_fields=fields, **_where(version))
            try:
                while True:
                    page = it.next()
                    if not page:
                        break
                    out.extend(page)
            finally:
                it.close()
            return out

        return self._call(scan)

    def locations(self, version: str | None = None) -> dict[str, str]:
        """id -> location of every stored chunk (of one version)."""
        return {i: loc for i, (loc, _) in self.rows(version).items()}

    def vectors_by_ehash(self, ehashes: Sequence[str], fields: Sequence[str] = ("dense",),
                         batch: int = 200) -> dict[str, dict]:
        """Stored embedding fields (`dense`, and `late` where the collection has it) of chunks whose
        embedding text has one of these hashes (identical text in another version, or a chunk
        that only moved), by hash: reused instead of embedded again."""
        hashes, out = sorted(set(ehashes)), {}
        if not hashes or not self.exists():
            return out
        self._ensure_loaded()
        for i in range(0, len(hashes), batch):
            expr = f"ehash in {json.dumps(hashes[i : i + batch])}"
            for row in self._call(lambda c: c.query(self.collection, filter=expr, output_fields=["ehash", *fields])):
                out.setdefault(row["ehash"], _embedding_fields(row, fields))
        return out

    def delete_version(self, version: str) -> int:
        """Delete every chunk of one docs version; returns how many there were."""
        ids = list(self.rows(version))
        self.delete(ids)  # its partition stays, empty (servers drop only released partitions; Lite releases none)
        return len(ids)

    # ---- versions record (collection properties) ----------------------------------------
    def versions_record(self) -> dict:
        """{"versions": {version: {chunks, source, commit, fingerprint, refreshed, current}}}."""
        if not self.exists():
            return {"versions": {}}
        raw = self.properties().get(PROP_VERSIONS)
        try:
            record = json.loads(raw) if raw else {}
        except ValueError:
            record = {}
        record.setdefault("versions", {})
        return record

    def save_versions_record(self, record: dict) -> None:
        value = json.dumps(record, sort_keys=True, separators=(",", ":"))
        self._call(lambda c: c.alter_collection_properties(self.collection, properties={PROP_VERSIONS: value}))

    def upsert(self, rows: Sequence[dict], batch: int = 500) -> None:
        """Write rows, each into its docs version's partition (created on first use)."""
        by_partition: dict[str, list[dict]] = {}
        for row in rows:
            fitted = {k: (_fit(v, k) if k in _LIMITS else v) for k, v in row.items()}
            by_partition.setdefault(self._partition(row.get("version")), []).append(fitted)
        for name, group in by_partition.items():
            for i in range(0, len(group), batch):
                part = group[i : i + batch]
                self._call(lambda c: c.upsert(self.collection, part, partition_name=name))

    def partitions(self) -> set[str]:
        if self._partitions is None:
            self._partitions = set(self._call(lambda c: c.list_partitions(self.collection)))
        return self._partitions

    def has_partition(self, version: str) -> bool:
        """Whether the version has a partition (read again on a miss: another process may have added it)."""
        if partition_of(version) not in self.partitions():
            self._partitions = None
        return partition_of(version) in self.partitions()

    def _partition(self, version: str | None) -> str:
        name = partition_of(version)
        if name not in self.partitions():
            with self._lock:
                if name not in self.partitions():
                    self._call(lambda c: c.create_partition(self.collection, name))
                    self._partitions = None
        return name

    def vectors(self, ids: Sequence[str], fields: Sequence[str] = ("dense",), batch: int = 500) -> dict[str, dict]:
        """The stored embedding fields of `ids`, by id (to rewrite rows without embedding them
        again, or to read chunks' `late` matrices at query time)."""
        ids, out = list(ids), {}
        for i in range(0, len(ids), batch):
            part = ids[i : i + batch]
            for row in self._call(lambda c: c.get(self.collection, ids=part, output_fields=list(fields))):
                out[str(row["id"])] = _embedding_fields(row, fields)
        return out

    def flush(self) -> None:
        """Seal written rows into indexed segments: without it, Milvus Lite searches the growing
        segment brute force (240-310 ms per BM25 query on all docs instead of ~7 ms)."""
        self._call(lambda c: c.flush(self.collection))

    def delete(self, ids: Iterable[str], batch: int = 500) -> None:
        ids = list(ids)
        for i in range(0, len(ids), batch):
            part = ids[i : i + batch]
            self._call(lambda c: c.delete(self.collection, ids=part))

    def _ensure_loaded(self):
        if not self._loaded:
            self._call(lambda c: c.load_collection(self.collection))
            self._loaded = True

    # ---- search -------------------------------------------------------------------
    def _hits(self, result) -> list[Hit]:
        rows = result[0] if result else []
        hits = []
        for row in rows:
            ent = row.get("entity", row)
            hits.append(Hit(
                id=str(row.get("id", ent.get("id"))), text=ent.get("text", ""), title=ent.get("title", ""),
                heading=ent.get("heading", ""), source=ent.get("source", ""), url=ent.get("url", ""),
                version=ent.get("version", ""),
                # Milvus Lite reports BM25 scores negated; servers report them positive.
                score=abs(float(row.get("distance", 0.0))),
            ))
        return hits

    def search_bm25(self, analysed_query: str, limit: int, field: str = "sparse",
                    version: str | None = None) -> list[Hit]:
        """BM25 over the whole chunk (`sparse`) or over its headings (`sparse_head`), in one version."""
        if not analysed_query.strip():
            return []
        return self._search(field, analysed_query, limit, version, "BM25")

    def search_dense(self, vector: Sequence[float], limit: int, version: str | None = None) -> list[Hit]:
        return self._search("dense", list(vector), limit, version, "COSINE")

    def _search(self, field: str, query, limit: int, version: str | None, metric: str) -> list[Hit]:
        """One query; searches running at the same time with the same field, limit, version and metric
        go to Milvus as one call (see rag_core/coalesce.py). A version without a partition has nothing."""
        if version and not self.has_partition(version):
            return []
        self._ensure_loaded()

        def many(queries):
            res = self._call(lambda c: c.search(
                self.collection, data=list(queries), anns_field=field, limit=limit, **_where(version),
                output_fields=OUTPUT_FIELDS, search_params={"metric_type": metric},
            ))
            return [self._hits([rows]) for rows in res]

        return self._searches.run((field, limit, version, metric), query, many)
