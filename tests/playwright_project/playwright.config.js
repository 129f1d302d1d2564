// A small real Playwright project whose JSON report the triagehub tests parse
// (tests/test_playwright_source.py). It drives Debian's Chromium; never `playwright install`.
// The JSON report goes where PLAYWRIGHT_JSON_OUTPUT_NAME says (else to stdout).
const { defineConfig, devices } = require('@playwright/test');

const launchOptions = {
  executablePath: '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'],
};

module.exports = defineConfig({
  testDir: './specs',
  retries: 2,
  timeout: 5000,
  expect: { timeout: 300 },
  workers: 2,
  fullyParallel: true,
  reporter: [['json']],
  use: {
    headless: true,
    launchOptions,
    screenshot: 'only-on-failure',
    trace: 'retain-on-failure',
    video: 'off',
  },
  projects: [
    { name: 'chromium', use: { browserName: 'chromium', headless: true, launchOptions } },
    {
      // A phone viewport on the same Chromium; only the checkout specs, to keep the run short.
      name: 'mobile',
      testMatch: 'checkout/**/*.spec.js',
      use: { ...devices['Pixel 5'], browserName: 'chromium', headless: true, launchOptions },
    },
  ],
});
