"""The sandbox page in a real browser (Debian's chromium driven by Playwright): what an operator
must see at a glance, with a screenshot written to $HOOKSTREAM_TEST_OUTPUT (default
.hookstream/test-output)/sandbox. The sandbox runs alone here; calls are what the sender sends."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import httpx
import pytest

from hookstream.sandbox.app import Sandbox, sandbox_tokens
from hookstream.sandbox.server import serving

pytestmark = pytest.mark.integration


def output_dir() -> Path:
    base = Path(os.environ.get("HOOKSTREAM_TEST_OUTPUT", ".hookstream/test-output"))
    path = base / "sandbox"
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


async def send(client: httpx.AsyncClient, page: str, user: str, text: str) -> httpx.Response:
    return await client.post(
        f"/v24.0/{page}/messages",
        params={"access_token": f"token-{page}"},
        json={"recipient": {"id": user}, "messaging_type": "RESPONSE", "message": {"text": text}},
    )


async def busy_sandbox(url: str) -> None:
    """Two pages, three users; one user's messages known; one call rejected with 100/2018001;
    a fault still active on page 2002."""
    async with httpx.AsyncClient(base_url=url) as client:
        said = {"page_id": "1001", "sender_id": "u1", "text": "what is the price?", "mid": "m1"}
        assert (await client.post("/sandbox/inbound", json=said)).status_code == 200
        assert (await send(client, "1001", "u1", "Plans start at 9 EUR.")).status_code == 200
        assert (await send(client, "1001", "u2", "Thanks!")).status_code == 200
        assert (await send(client, "1001", "u2", "We are open 9-18.")).status_code == 200
        faults = [
            {"page_id": "2002", "code": 100, "subcode": 2018001, "count": 1},
            {"page_id": "2002", "code": 613, "rate": 0.5, "count": 0},
        ]
        assert (await client.put("/sandbox/faults", json=faults)).status_code == 200
        refused = await send(client, "2002", "u3", "Hello u3")
        assert refused.status_code == 400
        assert refused.json()["error"]["error_subcode"] == 2018001
        bad = await client.post("/sandbox/inbound", json={"page_id": "1001"})
        assert bad.status_code == 400


async def test_sandbox_page_shows_an_operator_what_happened(browser: object) -> None:
    shots = output_dir()
    sandbox = Sandbox(sandbox_tokens({"1001": "token-1001", "2002": "token-2002"}, ()))
    async with serving(sandbox) as url:
        await busy_sandbox(url)
        async with httpx.AsyncClient(base_url=url) as client:
            only_u2 = (await client.get("/sandbox/messages", params={"recipient_id": "u2"})).json()
            rejected = (await client.get("/sandbox/rejected")).json()
        assert only_u2["total"] == 2 and only_u2["accepted_all"] == 3
        assert [c["code"] for c in rejected["rejected"]] == [100]

        page = await browser.new_page(viewport={"width": 1280, "height": 900})  # type: ignore[attr-defined]
        await page.goto(f"{url}/")
        counts = await page.inner_text("section.counts")
        assert "3 replies accepted (all pages)" in counts, counts
        assert "1 call rejected" in counts and "2 conversations (all pages)" in counts
        body = await page.inner_text("main")
        # the user's message beside the reply, with times
        row = await page.inner_text("tr:has-text('what is the price?')")
        assert "Plans start at 9 EUR." in row and "s later" in row, row
        assert ":" in (await page.inner_text("tr:has-text('what is the price?') td.time"))
        # the rejected call with Meta's error, the active faults
        rejected_text = await page.inner_text("section:has(h2:has-text('Rejected calls'))")
        assert "100/2018001" in rejected_text and "Hello u3" in rejected_text, rejected_text
        faults = await page.inner_text("section:has(h2:has-text('Active faults'))")
        assert "Meta error 613" in faults and "50%" in faults, faults
        assert "Meta error 100/2018001" not in faults  # fired its one time: no longer active
        assert "newest first; 2 of 2 shown" in body
        # styled, not the browser's default page
        color = await page.eval_on_selector("header", "e => getComputedStyle(e).backgroundColor")
        assert color == "rgb(24, 119, 242)"
        await page.screenshot(path=str(shots / "sandbox.png"), full_page=True)

        await page.fill("input[name=recipient_id]", "u2")
        await page.click("button:has-text('filter')")
        counts = await page.inner_text("section.counts")
        assert "2 replies accepted (matching user u2)" in counts, counts
        assert "0 calls rejected" in counts and "1 conversation (matching user u2)" in counts
        assert "Plans start at 9 EUR." not in await page.inner_text("main")
        await page.screenshot(path=str(shots / "sandbox-user-u2.png"), full_page=True)

        await page.goto(f"{url}/?page_id=2002&refresh=5")
        refresh = await page.get_attribute("meta[http-equiv=refresh]", "content")
        assert refresh == "5"
        assert "1 call rejected (matching page 2002" in await page.inner_text("section.counts")
    assert sorted(p.name for p in shots.iterdir()) == ["sandbox-user-u2.png", "sandbox.png"]
