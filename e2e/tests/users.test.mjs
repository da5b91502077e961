// /users as admin: the table, the create form, a 422 re-render with field errors, a valid create.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { shot } from '../lib/browser.mjs';
import { useApp, loggedInPage, pathOf, submit } from '../lib/console.mjs';

const app = useApp();
const NEW_PASSWORD = 'e2e-Passw0rd-2026';

/** Picks `want` in select[name=org_key] if offered, else its first non-empty option; returns the value. */
async function chooseOrg(form, want = 'prov-support') {
  const sel = form.locator('select[name=org_key]');
  const values = await sel.locator('option').evaluateAll((os) => os.map((o) => o.value).filter(Boolean));
  assert.ok(values.length > 0, 'org_key offers organisations');
  const v = values.includes(want) ? want : values[0];
  await sel.selectOption(v);
  return v;
}

/** Chooses role `key` whether roles is a multi-select or a group of checkboxes named roles. */
async function chooseRole(form, key) {
  if (await form.locator('select[name=roles]').count()) {
    await form.locator('select[name=roles]').selectOption([key]);
  } else {
    await form.locator(`input[name=roles][value="${key}"]`).check();
  }
}

async function chosenRoles(form) {
  if (await form.locator('select[name=roles]').count()) {
    return form.locator('select[name=roles] option:checked').evaluateAll((os) => os.map((o) => o.value));
  }
  return form.locator('input[name=roles]:checked').evaluateAll((is) => is.map((i) => i.value));
}

test('admin sees #users-table with one row per user and the #user-form', async () => {
  const { context, page } = await loggedInPage(app, 'admin');
  try {
    const resp = await page.goto(`${app.base}/users`);
    await shot(page, 'users');
    assert.equal(resp.status(), 200);
    const rows = page.locator('#users-table tbody tr');
    const n = await rows.count();
    assert.ok(n > 0, 'rows in #users-table');
    const text = await page.locator('#users-table').innerText();
    for (const u of ['admin', 'viewer', 'gz-duty']) assert.match(text, new RegExp(`\\b${u}\\b`), `row for ${u}`);

    // The same count as the API reports (both on their first page of at most 50).
    const api = await page.request.get(`${app.base}/api/v1/users?limit=50`);
    if (api.ok()) {
      const body = await api.json();
      assert.equal(n, body.items.length, 'one table row per user');
    }

    const form = page.locator('#user-form');
    assert.ok(await form.isVisible(), '#user-form visible with user.manage');
    for (const sel of ['input[name=username]', 'input[name=display_name]', 'select[name=org_key]', 'input[name=password]']) {
      assert.equal(await form.locator(sel).count(), 1, `#user-form has ${sel}`);
    }
    const roleSelect = await form.locator('select[name=roles][multiple]').count();
    const roleBoxes = await form.locator('input[type=checkbox][name=roles]').count();
    assert.ok(roleSelect === 1 || roleBoxes > 0, 'roles is a multi-select or checkboxes named roles');
    assert.equal(await form.locator('input[name=password]').getAttribute('type'), 'password');
  } finally {
    await context.close();
  }
});

test('invalid input re-renders with 422, .field-error next to the field, values kept', async () => {
  const { context, page } = await loggedInPage(app, 'admin');
  try {
    await page.goto(`${app.base}/users`);
    const form = page.locator('#user-form');
    await form.locator('input[name=username]').fill('Bad Name');
    await form.locator('input[name=display_name]').fill('坏名字测试');
    const org = await chooseOrg(form);
    await chooseRole(form, 'read_only');
    await form.locator('input[name=password]').fill(NEW_PASSWORD);

    const resp = await submit(page, '#user-form button[type=submit]');
    assert.equal(resp.request().method(), 'POST');
    assert.equal(resp.status(), 422);

    const err = page.locator('#user-form .field-error[data-field="username"]');
    assert.equal(await err.count(), 1, '.field-error[data-field=username] inside #user-form');
    assert.ok(await err.isVisible(), 'username error visible');
    assert.ok((await err.innerText()).trim().length > 0, 'the error says something');
    // "Next to the field": the error shares the username input's closest container.
    const near = await page.locator('#user-form input[name=username]').evaluate((input) => {
      const e = document.querySelector('#user-form .field-error[data-field="username"]');
      for (let box = input.parentElement; box && box.id !== 'user-form'; box = box.parentElement) {
        if (box.contains(e)) return true;
      }
      return false;
    });
    assert.ok(near, 'the username error sits in the same container as the username field');

    const f = page.locator('#user-form');
    assert.equal(await f.locator('input[name=username]').inputValue(), 'Bad Name', 'username kept');
    assert.equal(await f.locator('input[name=display_name]').inputValue(), '坏名字测试', 'display_name kept');
    assert.equal(await f.locator('select[name=org_key]').inputValue(), org, 'org_key kept');
    assert.deepEqual(await chosenRoles(f), ['read_only'], 'roles kept');
    assert.equal(await page.locator('#users-table tbody tr', { hasText: 'Bad Name' }).count(), 0,
      'nothing was created');
  } finally {
    await context.close();
  }
});

test('a valid submission redirects to /users and the new user is listed', async () => {
  const { context, page } = await loggedInPage(app, 'admin');
  try {
    await page.goto(`${app.base}/users`);
    const form = page.locator('#user-form');
    await form.locator('input[name=username]').fill('e2e-newbie');
    await form.locator('input[name=display_name]').fill('端到端新用户');
    await chooseOrg(form);
    await chooseRole(form, 'read_only');
    await form.locator('input[name=password]').fill(NEW_PASSWORD);

    const resp = await submit(page, '#user-form button[type=submit]');
    const post = resp.request().redirectedFrom();
    assert.ok(post && post.method() === 'POST', 'the POST answered with a redirect');
    assert.equal(resp.status(), 200);
    assert.equal(pathOf(page), '/users');
    const table = page.locator('#users-table');
    assert.match(await table.innerText(), /\be2e-newbie\b/);
    assert.equal(await table.locator('tbody tr', { hasText: 'e2e-newbie' }).count(), 1, 'one row for the new user');
  } finally {
    await context.close();
  }
});
