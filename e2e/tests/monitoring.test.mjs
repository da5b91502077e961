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

test('create and edit forms for probes, databases and points validate on the server, errors next to the field', async () => {
  const { context, page } = await loggedInPage(app, 'admin');
  try {
    await page.goto(`${app.base}/probes`);
    await Promise.all([page.waitForNavigation(), page.click('#probe-new')]);
    assert.equal(new URL(page.url()).pathname, '/probes/new');
    // Every field has its label.
    for (const id of ['m-name', 'm-system', 'm-region', 'm-severity', 'm-enabled', 'm-scenario', 'm-secrets']) {
      assert.equal(await page.locator(`label[for="${id}"]`).count(), 1, `label of ${id}`);
    }
    await page.fill('#m-name', '自检拨测(表单)');
    await page.fill('#m-scenario', JSON.stringify({ steps: [{ name: '健康检查', url: 'ftp://nowhere.example.invalid/' }] }));
    let r = await submit(page, '#probe-form button[type=submit]');
    assert.equal(r.status(), 422);
    assert.equal(await page.locator('#m-scenario').getAttribute('aria-invalid'), 'true');
    assert.match(await page.locator('#me-scenario').innerText(), /scenario\.steps\[0\]\.url/);
    assert.equal(await page.locator('#m-name').inputValue(), '自检拨测(表单)', 'what was typed is kept');
    await shot(page, 'probe-form-error');
    await page.fill('#m-scenario', JSON.stringify({
      steps: [{ name: '健康检查', url: `${app.base}/healthz`, assert: { status: 200 } }],
    }, null, 2));
    r = await submit(page, '#probe-form button[type=submit]');
    assert.equal(r.status(), 200);
    assert.match(new URL(page.url()).pathname, /^\/probes\/\d+$/);
    assert.match(await page.locator('#probe-steps').innerText(), /健康检查/);
    r = await submit(page, '#probe-run');
    assert.equal(r.status(), 200);
    assert.match(await page.locator('#runs-table tbody tr').first().innerText(), /健康检查: 200 · \d+ ms/);
    await Promise.all([page.waitForNavigation(), page.click('#probe-edit')]);
    await page.fill('#m-name', '自检拨测(已改)');
    r = await submit(page, '#probe-form button[type=submit]');
    assert.equal(r.status(), 200);
    assert.match(await page.locator('#probe h2').innerText(), /自检拨测\(已改\)/);

    // A database: a port that is not a number is refused next to the port.
    await page.goto(`${app.base}/monitoring-points`);
    await Promise.all([page.waitForNavigation(), page.click('#database-new')]);
    await page.fill('#m-name', '订单库(演示)');
    await page.selectOption('#m-kind', 'mysql');
    await page.fill('#m-host', '127.0.0.1');
    await page.fill('#m-port', 'abc');
    await page.fill('#m-database', 'orders');
    await page.fill('#m-username', 'monitor_ro');
    await page.fill('#m-password', 'demo-pw-1');
    r = await submit(page, '#database-form button[type=submit]');
    assert.equal(r.status(), 422);
    assert.match(await page.locator('#me-port').innerText(), /abc/);
    assert.equal(await page.locator('#m-password').inputValue(), '', 'the password is not sent back');
    await page.fill('#m-port', '3306');
    await page.fill('#m-password', 'demo-pw-1');
    r = await submit(page, '#database-form button[type=submit]');
    assert.equal(r.status(), 200);
    assert.equal(await page.locator('#databases-table tbody tr').count(), 1);

    // A point: a threshold that is not a number, then a valid one that lands in the catalogue.
    await Promise.all([page.waitForNavigation(), page.click('#point-new')]);
    await page.fill('#m-name', '订单积压(演示)');
    await page.fill('#m-owner', '运维一组');
    await page.fill('#m-query', "SELECT COUNT(*) FROM orders WHERE state = 'pending'");
    await page.selectOption('#m-comparison', 'gt');
    await page.fill('#m-threshold', '五百');
    r = await submit(page, '#point-form button[type=submit]');
    assert.equal(r.status(), 422);
    assert.equal(await page.locator('#m-threshold').getAttribute('aria-invalid'), 'true');
    assert.equal(await page.locator('#me-threshold').count(), 1);
    await page.fill('#m-threshold', '500');
    r = await submit(page, '#point-form button[type=submit]');
    assert.equal(r.status(), 200);
    assert.match(await page.locator('#points-table').innerText(), /订单积压\(演示\)/);
    await page.setViewportSize({ width: 1366, height: 768 });
    await page.goto(`${app.base}/probes/new`);
    const box = await page.locator('#probe-form button[type=submit]').boundingBox();
    assert.ok(box && box.x + box.width <= 1366, 'the form fits 1366 px wide');
    await shot(page, 'probe-form');
  } finally {
    await context.close();
  }
});
