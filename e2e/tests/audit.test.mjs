// /audit: #audit-table lists the trail newest first, including console logins.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { shot } from '../lib/browser.mjs';
import { useApp, loggedInPage } from '../lib/console.mjs';

const app = useApp();

test('#audit-table lists entries newest first, with session.login', async () => {
  // viewer logs in first, admin second: admin's login is the newer entry.
  const first = await loggedInPage(app, 'viewer');
  await first.context.close();
  const { context, page } = await loggedInPage(app, 'admin');
  try {
    const resp = await page.goto(`${app.base}/audit`);
    await shot(page, 'audit');
    assert.equal(resp.status(), 200);
    const rows = page.locator('#audit-table tbody tr');
    const texts = await rows.allInnerTexts();
    assert.ok(texts.length >= 2, `entries listed (${texts.length})`);

    const logins = texts
      .map((t, i) => ({ t, i }))
      .filter(({ t }) => /\bsession\.login\b/.test(t));
    assert.ok(logins.length >= 2, 'session.login entries for both logins');
    const adminAt = logins.find(({ t }) => /\badmin\b/.test(t));
    const viewerAt = logins.find(({ t }) => /\bviewer\b/.test(t));
    assert.ok(adminAt && viewerAt, 'a session.login entry for admin and for viewer');
    assert.ok(adminAt.i < viewerAt.i, 'the newer login (admin) is listed above the older (viewer)');
    assert.match(texts[0], /\bsession\.login\b/, 'the newest entry is the latest login');

    // Where rows carry machine-readable times, they never increase down the table.
    const times = await rows.evaluateAll((trs) =>
      trs.map((tr) => tr.querySelector('time[datetime]')?.getAttribute('datetime')).filter(Boolean));
    for (let i = 1; i < times.length; i++) {
      assert.ok(Date.parse(times[i - 1]) >= Date.parse(times[i]), `row ${i} is not newer than row ${i - 1}`);
    }
  } finally {
    await context.close();
  }
});
