// The reports page of issue 9: charts of tickets per day, deadlines met, alert volume, reconciliation consistency
// over time and the KPI ranking, drawn on the server as SVG (no script library), each with its numbers in a
// table; the window is chosen from a list.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { shot } from '../lib/browser.mjs';
import { useApp, loggedInPage, submit } from '../lib/console.mjs';

const app = useApp();

test('the reports page draws the trends and switches the window', async () => {
  const { context, page } = await loggedInPage(app, 'admin');
  try {
    await page.goto(`${app.base}/`);
    await page.locator('nav a[href="/reports"]').click();
    await page.waitForLoadState();
    for (const id of ['chart-incidents', 'chart-sla', 'chart-alerts']) {
      assert.ok(await page.locator(`svg#${id}[role=img] title`).count(), id);
    }
    assert.equal(await page.locator('#chart-incidents-table tbody tr').count(), 30);
    // The demo's two runs of the REC-01 job (today and six days ago) draw its consistency line.
    const recon = page.locator('svg[id^="chart-recon-"][role=img]');
    assert.ok(await recon.count() >= 1, 'a consistency chart');
    const reconId = await recon.first().getAttribute('id');
    assert.equal(await page.locator(`#${reconId}-table tbody tr`).count(), 2);
    // This month's KPI ranking, one row per branch, linked to the scorecards.
    assert.ok(await page.locator('svg#chart-kpi-ranking[role=img] title').count());
    assert.ok(await page.locator('#chart-kpi-ranking-table tbody tr').count() >= 2);
    assert.ok(await page.locator('a[href^="/kpi?period="]').count());
    await shot(page, 'reports');
    await page.selectOption('#days', '7');
    await submit(page, '#reports-window button[type=submit]');
    assert.equal(new URL(page.url()).searchParams.get('days'), '7');
    assert.equal(await page.locator('#chart-incidents-table tbody tr').count(), 7);
    // Six days ago is still inside a 7-day window.
    assert.equal(await page.locator(`#${reconId}-table tbody tr`).count(), 2);
    // A window that is not a number of days is refused next to the field.
    const resp = await page.goto(`${app.base}/reports?days=many`);
    assert.equal(resp.status(), 422);
    assert.ok(await page.locator('#days-err').isVisible());
  } finally {
    await context.close();
  }
});
