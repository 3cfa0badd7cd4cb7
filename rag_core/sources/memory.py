"""An in-memory docs source for unit tests: {version: {path: text}}, one of them current."""

from __future__ import annotations

import hashlib

from ..versions import sort_key
from .base import Document, SourceError, VersionDocs, select


class MemorySource:
    def __init__(self, versions: dict[str, dict[str, str]], current: str | None = None, label: str = "memory"):
        self.docs = versions
        self.current = current
        self.label = label
        self.downloads = 0

    def versions(self, wanted: list[str], glob: str) -> list[VersionDocs]:
        out = []
        for want in wanted:
            version = self.current if want == "latest" else want
            if version not in self.docs:
                raise SourceError(f"FAQBOT_DOCS_VERSIONS: {version} is not in {self.label}; "
                                  f"it has {', '.join(sorted(self.docs, key=sort_key))}.")
            files = self.docs[version]
            chosen = select(files, glob, f"{self.label} {version}")
            digest = hashlib.sha256(repr((sorted((p, files[p]) for p in chosen), glob,
                                          version == self.current)).encode()).hexdigest()[:32]
            out.append(VersionDocs(version=version, current=version == self.current, source=self.label,
                                   commit=digest[:12], fingerprint=digest, files=len(chosen),
                                   _load=lambda f=files, c=chosen: self._read(f, c)))
        return out

    def _read(self, files, chosen):
        self.downloads += len(chosen)
        return [Document(p, files[p]) for p in chosen]
