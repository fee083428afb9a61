// The pipeline's status page, checked as a person sees it: headless Chromium
// (Debian's) driven by playwright-core loads the page, the MJPEG stream shows
// frames, the state and the figures update, and a screenshot is kept.
//
// usage: node check_status_page.js URL SCREENSHOT.png
const { chromium } = require('playwright-core');

const [url, shot] = process.argv.slice(2);
const fail = (msg) => { console.error('FAIL ' + msg); process.exit(1); };

(async () => {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1200, height: 700 } });
    const resp = await page.goto(url, { waitUntil: 'domcontentloaded', timeout: 20000 });
    if (!resp || resp.status() !== 200) fail('page status ' + (resp && resp.status()));
    // The stream: the <img> decodes a frame of the video's size.
    await page.waitForFunction(() => {
      const img = document.getElementById('stream');
      return img && img.naturalWidth > 0;
    }, null, { timeout: 20000 });
    const size = await page.evaluate(() => {
      const img = document.getElementById('stream');
      return [img.naturalWidth, img.naturalHeight];
    });
    console.log('ok   stream shows frames of ' + size.join('x'));
    // The state is shown and the source time moves on between two looks.
    await page.waitForFunction(() => document.getElementById('state').dataset.t !== undefined,
                               null, { timeout: 20000 });
    const first = await page.evaluate(() => Number(document.getElementById('state').dataset.t));
    await page.waitForFunction((t0) => Number(document.getElementById('state').dataset.t) > t0 + 0.5,
                               first, { timeout: 20000 });
    const state = await page.evaluate(() => document.getElementById('state').textContent);
    const known = ['normal', 'texting', 'looking-away', 'on-phone', 'unknown', 'calibrating'];
    if (!known.includes(state)) fail('state shown is "' + state + '"');
    console.log('ok   state "' + state + '" updates (t ' + first.toFixed(2) + ' s and later)');
    const frames = await page.evaluate(() => Number(document.getElementById('fig-frames').textContent));
    if (!(frames > 0)) fail('frames figure ' + frames);
    console.log('ok   figures: ' + frames + ' frames');
    // A frame of the stream is not blank: its pixels vary.
    const spread = await page.evaluate(() => {
      const img = document.getElementById('stream');
      const c = document.createElement('canvas');
      c.width = 64; c.height = 48;
      const g = c.getContext('2d');
      g.drawImage(img, 0, 0, 64, 48);
      const d = g.getImageData(0, 0, 64, 48).data;
      let lo = 255, hi = 0;
      for (let i = 0; i < d.length; i += 4) { lo = Math.min(lo, d[i + 1]); hi = Math.max(hi, d[i + 1]); }
      return hi - lo;
    });
    if (!(spread > 40)) fail('stream frame looks blank (spread ' + spread + ')');
    console.log('ok   stream frame has content (green spread ' + spread + ')');
    await page.screenshot({ path: shot });
    console.log('ok   screenshot ' + shot);
  } finally {
    await browser.close();
  }
})().catch((e) => fail(e.message));
