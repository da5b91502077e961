// The reports page of issue 9: charts of tickets per day, deadlines met and alert volume, drawn on the server
// as SVG (no script library), each with its numbers in a table; the window is chosen from a list.
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
    await shot(page, 'reports');
    await page.selectOption('#days', '7');
    await submit(page, '#reports-window button[type=submit]');
    assert.equal(new URL(page.url()).searchParams.get('days'), '7');
    assert.equal(await page.locator('#chart-incidents-table tbody tr').count(), 7);
    // A window that is not a number of days is refused next to the field.
    const resp = await page.goto(`${app.base}/reports?days=many`);
    assert.equal(resp.status(), 422);
    assert.ok(await page.locator('#days-err').isVisible());
  } finally {
    await context.close();
  }
});
