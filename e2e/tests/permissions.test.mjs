// What the console shows and refuses by permission: viewer (read_only) and gz-duty (duty_officer,
// region scope). Expectations about permissions are read from policies/default/roles.toml.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useApp, loggedInPage, csrfToken } from '../lib/console.mjs';
import { rolePermissions } from '../lib/policy.mjs';

const app = useApp();
const READ_ONLY = rolePermissions('read_only');
const DUTY_OFFICER = rolePermissions('duty_officer');

test('viewer: /users shows the table but no #user-form', async () => {
  assert.ok(READ_ONLY.has('user.read') && !READ_ONLY.has('user.manage'), 'read_only may read users, not manage');
  const { context, page } = await loggedInPage(app, 'viewer');
  try {
    const resp = await page.goto(`${app.base}/users`);
    assert.equal(resp.status(), 200);
    assert.ok(await page.locator('#users-table').isVisible(), '#users-table visible');
    assert.ok(await page.locator('#users-table tbody tr').count() > 0, 'rows listed');
    assert.equal(await page.locator('#user-form').count(), 0, 'no #user-form without user.manage');
    assert.match(await page.locator('#current-user').innerText(), /\bviewer\b/);
  } finally {
    await context.close();
  }
});

test('viewer: the policy nav entry follows policy.read of read_only', async () => {
  const { context, page } = await loggedInPage(app, 'viewer');
  try {
    const nav = page.locator('nav[aria-label] a[data-nav="policy"]');
    assert.equal(await nav.count(), READ_ONLY.has('policy.read') ? 1 : 0,
      `read_only ${READ_ONLY.has('policy.read') ? 'has' : 'lacks'} policy.read`);
    assert.equal(await page.locator('nav[aria-label] a[data-nav="home"]').count(), 1);
  } finally {
    await context.close();
  }
});

test('viewer: a direct POST /users with a valid CSRF token is 403 with #forbidden', async () => {
  const { context, page } = await loggedInPage(app, 'viewer');
  try {
    await page.goto(`${app.base}/users`);
    const csrf = await csrfToken(page);
    const resp = await page.request.post(`${app.base}/users`, {
      form: {
        csrf,
        username: 'viewer-made-this',
        display_name: '越权创建',
        org_key: 'prov',
        roles: 'read_only',
        password: 'e2e-Passw0rd-2026',
      },
      maxRedirects: 0,
    });
    assert.equal(resp.status(), 403);
    // Show the refusal in the page and check it as a person would see it.
    await page.setContent(await resp.text());
    assert.ok(await page.locator('#forbidden').isVisible(), '#forbidden visible');

    await page.goto(`${app.base}/users`);
    assert.equal(await page.locator('#users-table tbody tr', { hasText: 'viewer-made-this' }).count(), 0,
      'no user was created');
  } finally {
    await context.close();
  }
});

test('gz-duty: no policy nav entry without policy.read', async () => {
  assert.ok(!DUTY_OFFICER.has('policy.read'), 'duty_officer lacks policy.read');
  const { context, page } = await loggedInPage(app, 'gz-duty');
  try {
    assert.match(await page.locator('#current-user').innerText(), /\bgz-duty\b/);
    assert.equal(await page.locator('nav[aria-label] a[data-nav="home"]').count(), 1);
    assert.equal(await page.locator('nav[aria-label] a[data-nav="policy"]').count(), 0);
  } finally {
    await context.close();
  }
});

test('gz-duty: pages it lacks the read permission for are 403 with #forbidden', async () => {
  const { context, page } = await loggedInPage(app, 'gz-duty');
  try {
    for (const [path, perm] of [['/users', 'user.read'], ['/audit', 'audit.read']]) {
      assert.ok(!DUTY_OFFICER.has(perm), `duty_officer lacks ${perm}`);
      const resp = await page.goto(`${app.base}${path}`);
      assert.equal(resp.status(), 403, `GET ${path}`);
      assert.ok(await page.locator('#forbidden').isVisible(), `${path}: #forbidden visible`);
      assert.match(await page.locator('#current-user').innerText(), /\bgz-duty\b/, `${path}: still in the shell`);
    }
  } finally {
    await context.close();
  }
});
