// /alerts, /probes and /monitoring-points (issue 5): the demo's invented alerts, the MON-09 sign-in button and
// the MON-10 budget on /alerts; the demo server's probe of itself (MON-03) running on its own, with
// availability, the server-rendered latency chart and per-step timings; the monitoring-point catalogue.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { shot } from '../lib/browser.mjs';
import { useApp, loggedInPage, submit } from '../lib/console.mjs';

const app = useApp();

test('alerts list with the daily sign-in (MON-09) and the severe-alarm budget (MON-10)', async () => {
  const { context, page } = await loggedInPage(app, 'admin');
  try {
    const resp = await page.goto(`${app.base}/alerts`);
    assert.equal(resp.status(), 200);
    assert.equal(await page.locator('nav [data-nav="alerts"][aria-current="page"]').count(), 1);
    assert.ok(await page.locator('#alerts-table tbody tr').count() >= 3, 'the demo alerts');
    assert.equal(await page.locator('#alerts-table tbody tr[data-state="firing"]').count(), 2);
    assert.equal(await page.locator('#severe-budget tr[data-region="guangzhou"]').count(), 1, 'a severe alarm in Guangzhou');
    assert.equal(await page.locator('#signin').getAttribute('data-signed'), 'false');
    await shot(page, 'alerts-signin');
    await page.fill('#signin-note', '早班签到,前一天告警已处理');
    const r = await submit(page, '#signin-form button[type=submit]');
    assert.equal(r.status(), 200);
    assert.equal(await page.locator('#signin').getAttribute('data-signed'), 'true');
    assert.match(await page.locator('#signin-done').innerText(), /admin/);
  } finally {
    await context.close();
  }
});

test('the demo probe runs on its own: availability, latency chart and per-step timings', async () => {
  const { context, page } = await loggedInPage(app, 'admin');
  try {
    // The demo probe's first run is due 5 s after start; the runner polls twice a second.
    let avail = '';
    for (let i = 0; i < 40; i++) {
      const resp = await page.goto(`${app.base}/probes`);
      assert.equal(resp.status(), 200);
      avail = (await page.locator('#probes-table tbody tr td.availability').first().innerText()).trim();
      if (avail !== '—') break;
      await page.waitForTimeout(500);
    }
    assert.equal(avail, '100.0%');
    assert.equal(await page.locator('nav [data-nav="probes"][aria-current="page"]').count(), 1);
    assert.equal(await page.locator('#probes-table svg.spark rect').count() >= 1, true, 'latency chart');
    await shot(page, 'probes');
    await Promise.all([page.waitForNavigation(), page.locator('#probes-table tbody tr a').first().click()]);
    assert.match(await page.locator('#probe-steps').innerText(), /健康检查/);
    assert.match(await page.locator('#runs-table tbody tr').first().innerText(), /健康检查: 200 · \d+ ms/);
    await shot(page, 'probe');
  } finally {
    await context.close();
  }
});

test('the monitoring-point catalogue opens, in English too', async () => {
  const { context, page } = await loggedInPage(app, 'admin');
  try {
    const resp = await page.goto(`${app.base}/monitoring-points`);
    assert.equal(resp.status(), 200);
    assert.equal(await page.locator('#points-table').count(), 1);
    await submit(page, 'form[action="/lang"] button[data-lang="en"]');
    await page.goto(`${app.base}/monitoring-points`);
    assert.match(await page.locator('h1').innerText(), /Business monitoring points/);
  } finally {
    await context.close();
  }
});
