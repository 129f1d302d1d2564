// Imports a helper module that does not exist.
const { test, expect } = require('@playwright/test');
const { login } = require('./helpers/session');

test('logs in', async ({ page }) => {
  await login(page);
  await expect(page).toHaveTitle('Dashboard');
});
