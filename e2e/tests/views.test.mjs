// Incident list filters, saved views and the dashboard cards of issue 9: filter, save the filters under a
// name, reopen them with one click, see a bad filter refused next to its field, delete the view; the
// dashboard shows who is on duty now and the firing alerts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { shot } from '../lib/browser.mjs';
import { useApp, loggedInPage, submit } from '../lib/console.mjs';

const app = useApp();

test('pre-processor filters the incident list, saves the view and reopens it', async () => {
  const { context, page } = await loggedInPage(app, 'preproc');
  try {
    await page.goto(`${app.base}/incidents`);
    await page.selectOption('#incident-filters [name=level]', 'FL2');
    await page.selectOption('#incident-filters [name=source]', 'hotline');
    await page.locator('#incident-filters [name=overdue]').check();
    await submit(page, '#incident-filters button[type=submit]');
    const url = new URL(page.url());
    assert.equal(url.searchParams.get('level'), 'FL2');
    assert.equal(url.searchParams.get('source'), 'hotline');
    assert.equal(url.searchParams.get('overdue'), '1');

    await page.fill('#view_name', '热线 FL2 超时');
    let resp = await submit(page, '#save-view button[type=submit]');
    assert.equal(resp.status(), 200);
    assert.match(await page.locator('.flash').textContent(), /视图已保存/);
    assert.equal(await page.locator('#saved-views li').count(), 1);
    await shot(page, 'incidents-saved-view');

    // A second view with the same name is refused next to the name field; nothing is added.
    await page.fill('#view_name', '热线 FL2 超时');
    resp = await submit(page, '#save-view button[type=submit]');
    assert.equal(resp.status(), 422);
    assert.ok(await page.locator('#view_name-err').isVisible());
    assert.equal(await page.locator('#saved-views li').count(), 1);

    // One click reopens the filters.
    await page.goto(`${app.base}/incidents`);
    await page.locator('#saved-views a', { hasText: '热线 FL2 超时' }).click();
    await page.waitForLoadState();
    assert.equal(await page.locator('#incident-filters [name=level]').inputValue(), 'FL2');
    assert.equal(await page.locator('#incident-filters [name=source]').inputValue(), 'hotline');
    assert.ok(await page.locator('#incident-filters [name=overdue]').isChecked());

    // A filter naming an unknown branch is shown as an error on that field.
    resp = await page.goto(`${app.base}/incidents?region=atlantis`);
    assert.equal(resp.status(), 422);
    assert.ok(await page.locator('#region-err').isVisible());

    // Delete the view.
    await page.goto(`${app.base}/incidents`);
    await submit(page, '#saved-views form button[type=submit]');
    assert.equal(await page.locator('#saved-views li').count(), 0);
  } finally {
    await context.close();
  }
});

test('the dashboard shows who is on duty now, the alert counts and probe availability', async () => {
  const { context, page } = await loggedInPage(app, 'duty-hq-1');
  try {
    await page.goto(`${app.base}/`);
    assert.ok(await page.locator('#dash-on-duty').isVisible());
    assert.ok(await page.locator('#dash-alerts').isVisible());
    const firing = await page.locator('#dash-alerts [data-firing]').getAttribute('data-firing');
    assert.match(firing, /^\d+$/);
    // The demo's own probe (its login page) is listed with its 24-hour availability.
    assert.ok(await page.locator('#dash-probes').isVisible());
    assert.ok(await page.locator('#dash-probes li').count() >= 1);
    await shot(page, 'dashboard-duty-alerts');
  } finally {
    await context.close();
  }
});
