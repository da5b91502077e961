// KPI scorecards and the report pack of issue 8: the /kpi page shows one row per branch with the KPI-07 score
// computed from resolved group-customer faults, the ranking as a server-drawn SVG, a branch's drill-down with
// links to the tickets behind lost points, not-scored measures explained; an evaluator assesses a KPI-13 part
// from the drill-down (points over the maximum refused next to the field); /reports/pack shows every section.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { shot } from '../lib/browser.mjs';
import { useApp, loggedInPage, submit } from '../lib/console.mjs';

const app = useApp();

test('the KPI page scores branches, ranks them and drills down to the tickets', async () => {
  const { context, page } = await loggedInPage(app, 'admin');
  try {
    await page.goto(`${app.base}/`);
    await page.locator('nav a[href="/kpi"]').click();
    await page.waitForLoadState();
    assert.equal(await page.locator('#kpi-table tbody tr').count(), 10, 'one row per demo branch');
    assert.ok(await page.locator('svg#chart-kpi-ranking[role=img] title').count());
    assert.ok((await page.locator('#kpi-unavailable li').count()) > 0, 'measures without records are listed');
    await shot(page, 'kpi');
    // A branch's name opens its drill-down.
    await page.locator('#kpi-table tbody tr th a').first().click();
    await page.waitForLoadState();
    assert.ok(await page.locator('#kpi-detail').isVisible());
    assert.ok(new URL(page.url()).searchParams.get('unit'));
    // Switching to provinces.
    await page.selectOption('#by', 'province');
    await submit(page, '#kpi-query button[type=submit]');
    assert.equal(new URL(page.url()).searchParams.get('by'), 'province');
    assert.equal(await page.locator('#kpi-table tbody tr').count(), 1);
    // A month that is not a month is refused next to the field.
    const resp = await page.goto(`${app.base}/kpi?period=2026-13`);
    assert.equal(resp.status(), 422);
    assert.ok(await page.locator('#period-err').isVisible());
  } finally {
    await context.close();
  }
});

test('an evaluator assesses a KPI-13 part from the drill-down, refused next to the points when over the maximum', async () => {
  const { context, page } = await loggedInPage(app, 'admin');
  try {
    await page.goto(`${app.base}/kpi?set=agent_portal_branch&by=branch&unit=guangzhou`);
    assert.ok(await page.locator('#kpi-assess').isVisible());
    // KPI-13: the central duty team is worth 2 points.
    await page.fill('#ap-central_duty_team', '3');
    await page.fill('#ar-central_duty_team', '值守记录完整');
    let resp = await submit(page, '#assess-form-central_duty_team button[type=submit]');
    assert.equal(resp.status(), 422);
    assert.match(await page.locator('#ap-central_duty_team-err').innerText(), /KPI-13/);
    assert.equal(await page.locator('#ar-central_duty_team').inputValue(), '值守记录完整');
    await page.fill('#ap-central_duty_team', '1.5');
    resp = await submit(page, '#assess-form-central_duty_team button[type=submit]');
    assert.equal(resp.status(), 200);
    assert.equal(await page.locator('#assess-central_duty_team li[data-current="true"]').count(), 1);
    assert.match(await page.locator('#kpi-detail').innerText(), /值守记录完整/);
    // A re-assessment supersedes it; both stay in the history.
    await page.fill('#ap-central_duty_team', '2');
    await page.fill('#ar-central_duty_team', '补交值守日志');
    resp = await submit(page, '#assess-form-central_duty_team button[type=submit]');
    assert.equal(resp.status(), 200);
    assert.equal(await page.locator('#assess-central_duty_team li').count(), 2);
    assert.equal(await page.locator('#assess-central_duty_team li[data-superseded="true"]').count(), 1);
    await shot(page, 'kpi-assess');
  } finally {
    await context.close();
  }
});

test('the report pack shows every section and offers the workbook', async () => {
  const { context, page } = await loggedInPage(app, 'admin');
  try {
    await page.goto(`${app.base}/reports`);
    await page.locator('#reports-pack-link').click();
    await page.waitForLoadState();
    for (const h of ['pack-frequent-h', 'pack-major-h', 'pack-bugs-h', 'pack-sla-h', 'pack-duty-h', 'pack-recon-h', 'pack-kpi-h']) {
      assert.ok(await page.locator(`#${h}`).isVisible(), h);
    }
    assert.ok(await page.locator('#pack-recon-none').isVisible());
    assert.ok(await page.locator('svg#chart-pack-kpi').count());
    const href = await page.locator('#pack-xlsx').getAttribute('href');
    assert.match(href, /\/api\/v1\/reports\/pack\.xlsx\?kind=monthly&period=\d{4}-\d{2}/);
    await shot(page, 'report-pack');
    await page.selectOption('#kind', 'weekly');
    await page.fill('#period', '2026-W48');
    await submit(page, '#pack-query button[type=submit]');
    assert.equal(new URL(page.url()).searchParams.get('kind'), 'weekly');
    assert.equal(await page.locator('#pack-kpi-h').count(), 0, 'KPI is monthly');
    const resp = await page.goto(`${app.base}/reports/pack?kind=monthly&period=11-2026`);
    assert.equal(resp.status(), 422);
    assert.ok(await page.locator('#period-err').isVisible());
  } finally {
    await context.close();
  }
});
