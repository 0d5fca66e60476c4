// Renders the diagram of every built-in issue type (the SVG GET /issue-types/{key}/versions/1/diagram answers) to
// docs/diagrams/<key>.png with a headless Chromium: `npx tsx scripts/diagram-screenshots.ts`. Chromium comes from
// the system (`apt-get install chromium`) or an unpacked copy in .tools/chromium (lib/chromium.ts).
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { builtinIssueTypes } from '../lib/issues/builtin-types.js';
import { chromiumCandidates, findChromium, runChromium } from '../lib/chromium.js';
import { statechartGraph } from '../lib/statechart-diagram/graph.js';
import { layoutStatechart, toSvg } from '../lib/statechart-diagram/svg.js';
import { buildMachine, type IssueTypeDefinition } from '../workflows/statechart/machine.js';

const root = resolve(import.meta.dirname, '..');
const chromium = findChromium();
if (!chromium) {
  console.error(`no Chromium found (tried ${chromiumCandidates.join(', ')}): apt-get install chromium`);
  process.exit(1);
}

const out = join(root, 'docs/diagrams');
mkdirSync(out, { recursive: true });
const work = mkdtempSync(join(tmpdir(), 'diagrams-'));
try {
  for (const type of builtinIssueTypes) {
    const machine = buildMachine(type.definition as IssueTypeDefinition, { id: 'diagram', type: type.key });
    const layout = await layoutStatechart(statechartGraph(machine));
    const svgPath = join(work, `${type.key}.svg`);
    writeFileSync(svgPath, toSvg(layout));
    const png = join(out, `${type.key}.png`);
    // The window is the picture's size; twice the pixels keep small text sharp.
    await runChromium(chromium, [
      '--force-device-scale-factor=2',
      `--window-size=${Math.ceil(layout.width)},${Math.ceil(layout.height)}`,
      `--screenshot=${png}`,
      pathToFileURL(svgPath).href,
    ]).catch((error: Error) => {
      throw new Error(`${type.key}: ${error.message}`);
    });
    console.log(`${png} (${Math.ceil(layout.width)}×${Math.ceil(layout.height)})`);
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
