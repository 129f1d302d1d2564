// Throws at import time, before any test is declared.
const { test } = require('@playwright/test');

const fixtures = loadFixtures();

function loadFixtures() {
  throw new Error('fixture file users.json not found: run `make fixtures` first');
}

test('never runs', async () => {
  test.info().annotations.push({ type: 'fixtures', description: String(fixtures) });
});
