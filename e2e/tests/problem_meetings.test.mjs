// PRB-13 monthly problem meeting in the console: /problems links to /problems/meetings; the record form refuses
// a missing minutes next to the field and keeps what was typed; a recorded meeting shows its past-due action as
// overdue, and the action is closed in place with a note (a blank note refused next to that action).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { shot } from '../lib/browser.mjs';
import { useApp, loggedInPage, submit, pathOf } from '../lib/console.mjs';

const app = useApp();

/** `YYYY-MM-DDTHH:MM` in Asia/Shanghai, `days` from now, for a datetime-local input. */
function localInput(days) {
  const d = new Date(Date.now() + 8 * 3600_000 + days * 86400_000);
  return d.toISOString().slice(0, 16);
}

test('monthly problem meeting: record with refusals next to the field, overdue action closed in place', async () => {
  const { context, page } = await loggedInPage(app, 'admin');
  try {
    await page.goto(`${app.base}/problems`);
    await page.locator('#meetings-link').click();
    await page.waitForLoadState();
    assert.equal(pathOf(page), '/problems/meetings');
    assert.ok(await page.locator('#meetings-none').isVisible());

    await page.fill('#mf-held', localInput(-2));
    await page.fill('#mf-attendees', '问题协调员（演示）\n计费组长（演示）');
    await page.fill('#mf-text-0', '增加入库批次积压监控');
    await page.fill('#mf-owner-0', 'dba1');
    await page.fill('#mf-due-0', localInput(-1));
    let resp = await submit(page, '#meeting-submit');
    assert.equal(resp.status(), 422);
    assert.ok(await page.locator('#me-minutes').isVisible());
    assert.equal(await page.inputValue('#mf-text-0'), '增加入库批次积压监控', 'the form keeps what was typed');

    await page.fill('#mf-minutes', '本月问题回顾；改进与预防措施见下。');
    resp = await submit(page, '#meeting-submit');
    assert.equal(resp.status(), 200);
    const row = page.locator('tr[data-action][data-overdue="true"]');
    assert.equal(await row.count(), 1, 'the past-due action is overdue');
    await shot(page, 'problem-meetings');

    const id = await row.getAttribute('data-action');
    resp = await submit(page, `tr[data-action="${id}"] button[type=submit]`);
    assert.equal(resp.status(), 422);
    assert.ok(await page.locator(`#ne-${id}`).isVisible(), 'refused next to that action');
    await page.fill(`#note-${id}`, '监控已上线');
    resp = await submit(page, `tr[data-action="${id}"] button[type=submit]`);
    assert.equal(resp.status(), 200);
    const done = page.locator(`tr[data-action="${id}"]`);
    assert.equal(await done.getAttribute('data-state'), 'done');
    assert.match(await done.innerText(), /监控已上线/);
  } finally {
    await context.close();
  }
});
