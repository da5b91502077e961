// /recon and /recon/runs/{id} (issue 6): the pack's jobs with their latest consistency and the server-rendered
// trend chart, the demo runs, one run's counts, per-column bars, differences filtered by kind, the CSV/XLSX
// downloads, the REC-07 work item replied and fixed from the page, the run-now form refusing a path outside the
// inbox next to its field, and the dashboard card.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { shot } from '../lib/browser.mjs';
import { useApp, loggedInPage, submit, pathOf } from '../lib/console.mjs';

const app = useApp();

/** The demo run with differences (the REC-01 job's second demo run or the first, whichever is newest). */
async function demoRun(page) {
  const r = await page.request.get(`${app.base}/api/v1/recon/runs?job=switchboard_customers_full`);
  assert.equal(r.status(), 200);
  const runs = await r.json();
  const run = runs.find((x) => x.trigger === 'demo' && x.differences > 0);
  assert.ok(run, `a demo run with differences: ${JSON.stringify(runs)}`);
  return run;
}

test('jobs with latest consistency and trend, a run with counts, bars, differences and downloads', async () => {
  const { context, page } = await loggedInPage(app, 'admin');
  try {
    const resp = await page.goto(`${app.base}/recon`);
    assert.equal(resp.status(), 200);
    assert.equal(await page.locator('nav [data-nav="recon"][aria-current="page"]').count(), 1);
    assert.equal(await page.locator('#recon-jobs-table tbody tr').count(), 7);
    const rec01 = page.locator('#recon-jobs-table tr[data-job="switchboard_customers_full"]');
    assert.match(await rec01.locator('td.consistency').innerText(), /%$/);
    assert.ok(await rec01.locator('td.trend svg[role="img"] circle').count() >= 2, 'trend of the demo runs');
    await shot(page, 'recon');

    const run = await demoRun(page);
    await page.goto(`${app.base}/recon/runs/${run.id}`);
    assert.equal(await page.locator('#recon-run').getAttribute('data-status'), 'succeeded');
    assert.match(await page.locator('#run-consistency').innerText(), /%/);
    assert.equal(await page.locator('#run-inputs tbody tr').count(), 2);
    assert.ok(await page.locator('#run-per-column svg').count() === 1, 'per-column bars');
    const all = await page.locator('#differences-table tbody tr').count();
    assert.ok(all >= 2);
    await page.selectOption('#d-kind', 'only_left');
    await submit(page, '#run-differences form button[type=submit]');
    const onlyLeft = await page.locator('#differences-table tbody tr').count();
    assert.ok(onlyLeft >= 1 && onlyLeft < all, `${onlyLeft} of ${all}`);
    await shot(page, 'recon-run');

    const csv = await page.request.get(`${app.base}${await page.locator('#download-csv').getAttribute('href')}`);
    assert.equal(csv.status(), 200);
    assert.match(csv.headers()['content-type'], /text\/csv/);
    assert.match(await csv.text(), /kind,key,column,left,right/);
    const xlsx = await page.request.get(`${app.base}${await page.locator('#download-xlsx').getAttribute('href')}`);
    assert.equal(xlsx.status(), 200);
    assert.equal((await xlsx.body()).subarray(0, 2).toString(), 'PK');
  } finally {
    await context.close();
  }
});

test('the work item of a difference batch is replied and fixed from the run page (REC-07)', async () => {
  const { context, page } = await loggedInPage(app, 'admin');
  try {
    const run = await demoRun(page);
    await page.goto(`${app.base}/recon/runs/${run.id}`);
    assert.equal(await page.locator('#item').getAttribute('data-state'), 'open');
    await page.fill('#i-reply', '省端状态同步延迟,已安排修正');
    let r = await submit(page, '#item-reply-form button[type=submit]');
    assert.equal(r.status(), 200);
    assert.equal(await page.locator('#item').getAttribute('data-state'), 'replied');
    await page.fill('#i-fix', '已按集团数据修正');
    r = await submit(page, '#item-fix-form button[type=submit]');
    assert.equal(await page.locator('#item').getAttribute('data-state'), 'fixed');
    assert.equal(await page.locator('#item-close-form').count(), 1);
    await shot(page, 'recon-item');
  } finally {
    await context.close();
  }
});

test('run-now refuses a path outside the inbox next to the field; the dashboard shows the consistency', async () => {
  const { context, page } = await loggedInPage(app, 'admin');
  try {
    await page.goto(`${app.base}/recon`);
    await page.fill('#r-left', '../../etc/passwd');
    await page.fill('#r-right', 'demo/x.csv');
    await page.fill('#r-key', 'customer_id');
    const r = await submit(page, '#recon-run-form button[type=submit]');
    assert.equal(r.status(), 422);
    assert.equal(await page.locator('#r-left-error').count(), 1);
    assert.equal(await page.locator('#r-left').getAttribute('aria-invalid'), 'true');
    assert.equal(await page.locator('#r-left').inputValue(), '../../etc/passwd', 'the input is kept');
    // A real run from the form: the demo files of the inbox.
    const day = (await demoRun(page)).as_of.replaceAll('-', '');
    await page.fill('#r-left', `demo/group_${day}.csv`);
    await page.fill('#r-right', `demo/province_${day}.csv`);
    await submit(page, '#recon-run-form button[type=submit]');
    assert.match(pathOf(page), /^\/recon\/runs\/\d+$/);
    assert.equal(await page.locator('#recon-run').getAttribute('data-status'), 'succeeded');

    await page.goto(`${app.base}/`);
    assert.ok(await page.locator('#dash-recon li').count() >= 1);
    assert.match(await page.locator('#dash-recon [data-consistency]').first().innerText(), /%$/);
  } finally {
    await context.close();
  }
});
