"""The API docs (Swagger UI) render and work with no network beyond Shoal itself."""

from __future__ import annotations

from typing import Any

from tests.test_web.conftest import Page, WebServer, screenshot


def test_docs_render_and_try_an_operation_offline(new_page, web: WebServer) -> None:
    page: Page = new_page("about:blank")
    outside: list[str] = []

    def same_origin_only(route: Any) -> None:
        if route.request.url.startswith(web.url + "/"):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    page.context.route("**/*", same_origin_only)
    refused: list[str] = []
    page.on("console", lambda m: refused.append(m.text) if "Content Security" in m.text
            else None)
    page.goto("/docs")
    health = page.locator(".opblock:has(.opblock-summary-path[data-path='/api/health'])")
    health.locator(".opblock-summary").click()
    health.locator("button.try-out__btn").click()
    health.locator("button.execute").click()
    status = health.locator(".live-responses-table tr.response .response-col_status")
    assert status.inner_text().strip() == "200"
    assert page.locator(".opblock").count() > 50
    screenshot(page, "api-docs")
    assert outside == []
    assert refused == []
