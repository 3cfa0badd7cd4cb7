"""Small values in the job store's meta table, so that whatever publishes the App Home or runs
`faqbot report` needs neither Milvus (a Lite file opens from one process only) nor a Slack call.

Writers: the process that owns Milvus saves the indexed docs versions after it opens the collection and
after each re-index (`save_docs_versions(store, pipeline)`); serve saves the workspace URL from its
auth.test (`save_workspace_url(store, identity)`). Readers never fail on a missing or garbled value.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any, Mapping

log = logging.getLogger(__name__)

DOCS_VERSIONS = "docs_versions"  # JSON list of Pipeline.version_rows(), oldest version first
WORKSPACE_URL = "workspace_url"  # auth.test's url, e.g. https://acme.slack.com/
_WORKSPACE_RE = re.compile(r"https://[A-Za-z0-9.-]+/")


def save_docs_versions(store, pipeline) -> None:
    store.set_meta(DOCS_VERSIONS, json.dumps(pipeline.version_rows(), ensure_ascii=False, default=str))


def save_workspace_url(store, identity: Mapping[str, Any]) -> None:
    """`identity` = the auth.test response; nothing is stored without a usable url."""
    url = str((identity or {}).get("url") or "")
    if _WORKSPACE_RE.fullmatch(url):
        store.set_meta(WORKSPACE_URL, url)


def docs_versions(store) -> list[dict]:
    """The stored versions ([] when none were saved yet, or the value is not a list of objects)."""
    try:
        value = json.loads(store.meta(DOCS_VERSIONS) or "[]")
    except ValueError:
        log.warning("the stored %s is not JSON; showing no docs versions", DOCS_VERSIONS)
        return []
    return [v for v in value if isinstance(v, dict) and v.get("version")] if isinstance(value, list) else []


def workspace_url(store) -> str:
    """https://<workspace>.slack.com/ as auth.test said, or '' (links then go through slack.com)."""
    url = store.meta(WORKSPACE_URL) or ""
    return url if _WORKSPACE_RE.fullmatch(url) else ""
