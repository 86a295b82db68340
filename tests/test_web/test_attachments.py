"""Files in the browser: drop an image into the composer and see it inline in another
member's window (and full size in the lightbox); pick a file and see it as a card."""

from __future__ import annotations

import base64
import re
import struct
import zlib

from playwright.sync_api import expect

from tests.test_web.conftest import Page, WebServer, login_with_token, screenshot
from tests.test_web.test_chat import pair


def png(width: int = 24, height: int = 16) -> bytes:
    """A small solid-coloured PNG."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    rows = b"".join(b"\0" + b"\x7c\x3a\xed" * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


DROP = """([b64, name]) => {
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  const data = new DataTransfer();
  data.items.add(new File([bytes], name, { type: 'image/png' }));
  const zone = document.querySelector('.room-main');
  for (const type of ['dragover', 'drop']) {
    zone.dispatchEvent(new DragEvent(type, { dataTransfer: data, bubbles: true,
                                              cancelable: true }));
  }
}"""


def test_drop_an_image_and_see_it_inline_in_another_window(new_page, web: WebServer) -> None:
    token_a, _, token_b, _, room = pair(web, "files")
    ada: Page = new_page("/")
    bo: Page = new_page("/")
    login_with_token(ada, token_a, f"/rooms/{room['id']}")
    login_with_token(bo, token_b, f"/rooms/{room['id']}")
    ada.evaluate(DROP, [base64.b64encode(png()).decode(), "chart.png"])
    expect(ada.locator(".attach-chip.ready")).to_contain_text("chart.png")
    ada.fill(".composer-input", "the chart")
    ada.keyboard.press("Enter")
    image = bo.locator(".msg:has-text('the chart') .attachment.image img")
    expect(image).to_have_attribute("src", re.compile(r"^blob:"))
    bo.wait_for_function("img => img.complete && img.naturalWidth === 24",
                         arg=image.element_handle())
    expect(ada.locator(".attach-tray")).to_be_hidden()  # sent: the tray is empty again
    bo.locator(".msg:has-text('the chart') .attachment.image").click()
    expect(bo.locator(".lightbox img")).to_be_visible()
    expect(bo.locator(".lightbox-caption")).to_have_text("chart.png")
    screenshot(bo, "attachment-lightbox")
    bo.keyboard.press("Escape")
    expect(bo.locator(".lightbox")).to_have_count(0)

    # A file that is not an image: picked, sent without text, shown as a card.
    ada.set_input_files(".file-input", files=[{"name": "notes.txt", "mimeType": "text/plain",
                                               "buffer": b"remember the milk\n"}])
    expect(ada.locator(".attach-chip.ready")).to_contain_text("notes.txt")
    ada.locator(".composer-input").press("Enter")
    card = bo.locator(".attachment.file:has-text('notes.txt')")
    expect(card).to_contain_text("text/plain")
    with bo.expect_download() as download:
        card.click()
    assert download.value.suggested_filename == "notes.txt"
    screenshot(bo, "attachments")


def test_a_refused_file_says_why(new_page, web: WebServer) -> None:
    token_a, _, _, _, room = pair(web, "refused")
    ada: Page = new_page("/")
    login_with_token(ada, token_a, f"/rooms/{room['id']}")
    ada.set_input_files(".file-input", files=[{"name": "page.html", "mimeType": "text/html",
                                               "buffer": b"<p>hi</p>"}])
    expect(ada.locator(".composer-error")).to_contain_text(
        "page.html: files of type text/html are not accepted here")
    expect(ada.locator(".attach-chip.failed")).to_have_count(1)
