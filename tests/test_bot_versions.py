"""The bot answers from the docs version a question names, else the channel's
(FAQBOT_CHANNEL_VERSIONS), else the default; the reply names the version it used."""

from __future__ import annotations

from testkit.bot_harness import BotHarness
from testkit.fakes import slack_payloads as sp
from tests.test_docs_versions import source


def test_channel_default_and_question_version(tmp_path, slack):
    h = BotHarness(tmp_path, slack, ingest=False, FAQBOT_DOCS_VERSIONS="latest,v2.4.x",
                   FAQBOT_DOCS_GLOB="en/**/*.md", FAQBOT_CHANNEL_VERSIONS="C24:v2.4.x", FAQBOT_RATE_LIMIT="0")
    h.pipeline.ingest(docs_source=source())
    h.start()
    try:
        asks = [("C1", "can milvus run on non-x86 architectures like ARM?"),
                ("C24", "can milvus run on non-x86 architectures like ARM?"),
                ("C24", "on Milvus 3.0, can it run on non-x86 architectures like ARM?"),
                ("C1", "we run milvus 2.6 - can it run on non-x86 architectures like ARM?")]
        for channel, text in asks:
            h.post_event(sp.app_mention(f"<@UBOT> {text}", channel=channel))
            assert h.idle()
        shown = [h.shown(r) for r in h.replies()]
        assert len(shown) == 4
        default, channel24, asked30, missing26 = shown
        assert "Sources (Milvus v3.0.x docs)" in default and "supports both x86 and ARM" in default
        assert "https://milvus.io/docs/product_faq.md#Does-Milvus-support-non-x86-architectures" in default
        assert "Sources (Milvus v2.4.x docs)" in channel24 and "cannot be installed" in channel24
        assert "https://milvus.io/docs/v2.4.x/product_faq.md#Does-Milvus-support-non-x86-architectures" in channel24
        assert "Sources (Milvus v3.0.x docs)" in asked30
        assert "v2.6.x docs are not indexed" in missing26 and "Sources (Milvus v3.0.x docs)" in missing26
    finally:
        h.stop()
