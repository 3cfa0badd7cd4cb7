"""What each kind of question gets: one table instead of `if job.kind == …` branches.

| kind      | progress shown             | confidence gate        | question posted | rate/busy notice |
|-----------|----------------------------|------------------------|-----------------|------------------|
| mention   | 👀 on the question          | no                     | no              | ephemeral        |
| command   | none (the ack said so)     | no                     | yes, in channel | response_url     |
| support   | 👀, only once confident     | yes: unsure → silence  | no              | ephemeral        |
| dm        | 👀 on the question          | no                     | no              | ephemeral        |
| assistant | assistant status line      | no                     | no              | in the thread    |
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from .jobstore import JobKind


class Progress(StrEnum):
    NONE = "none"
    REACTION = "reaction"  # 👀 on the question while the answer is written
    STATUS = "status"  # assistant.threads.setStatus


class Notice(StrEnum):
    EPHEMERAL = "ephemeral"  # only the asker sees it
    THREAD = "thread"  # a reply in the thread (assistant threads have no ephemeral messages)


@dataclass(frozen=True)
class Rules:
    progress: Progress
    confident_only: bool  # unsure retrieval → no reply at all (support channels)
    posts_question: bool  # /milvus: the question goes to the channel, the answer into its thread
    notice: Notice


RULES: dict[JobKind, Rules] = {
    JobKind.MENTION: Rules(Progress.REACTION, False, False, Notice.EPHEMERAL),
    JobKind.COMMAND: Rules(Progress.NONE, False, True, Notice.EPHEMERAL),
    JobKind.SUPPORT: Rules(Progress.REACTION, True, False, Notice.EPHEMERAL),
    JobKind.DM: Rules(Progress.REACTION, False, False, Notice.EPHEMERAL),
    JobKind.ASSISTANT: Rules(Progress.STATUS, False, False, Notice.THREAD),
}


def rules(kind) -> Rules:
    return RULES[JobKind(kind)]
